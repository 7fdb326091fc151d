//! The README and the firmware examples obtain the arena without `static
//! mut` or `unsafe`: a user's first contact with kiln needs neither.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, skipping build output.
fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "target") {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

#[test]
fn no_static_mut_and_no_unsafe_to_reach_an_arena() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let rust_blocks: Vec<&str> = readme
        .split("```rust")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .collect();
    assert!(rust_blocks.iter().any(|b| b.contains("kiln::Arena")));
    for block in rust_blocks {
        assert!(
            !block.contains("static mut") && !block.contains("unsafe"),
            "{block}"
        );
    }

    let mut boards = Vec::new();
    rust_files(&repo().join("targets/boards"), &mut boards);
    assert!(boards.len() >= 5, "{boards:?}");
    for file in boards {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("static mut") && !text.contains("unsafe"),
            "{file:?}"
        );
    }
    // The emulated targets too (their one `unsafe` block counts cycles).
    let mut emulated = Vec::new();
    rust_files(&repo().join("targets"), &mut emulated);
    for file in emulated {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            !text.contains("static mut ") && !text.contains("addr_of_mut!"),
            "{file:?}"
        );
    }
}
