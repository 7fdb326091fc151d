//! The `kiln` command line: inspect, compile and run models on the host.
//!
//! Layer: top of kiln-codegen; uses the library's public API only.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kiln_codegen::npy::{self, NpyArray};
use kiln_codegen::{import, lower, report, Error};

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "Compile trained neural networks (.tflite) into static Rust for microcontrollers",
    long_about = "Compile trained neural networks (.tflite) into static Rust for microcontrollers.\n\n\
        kiln reads an int8 TFLite model, plans one fixed arena for all activations, and writes a Rust \
        module whose weights live in flash. The same graph runs on the host with `kiln run`, bit-exact \
        with TensorFlow Lite Micro."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show ops, shapes, types, quantization, MACs, the planned arena and flash use
    Inspect {
        /// The model (.tflite)
        model: PathBuf,
        /// Print JSON (top level: arena_bytes, macs, weight_bytes, ops, ...)
        #[arg(long)]
        json: bool,
    },
    /// Generate a Rust module (NAME.rs) and its weights (NAME.weights.bin)
    Compile {
        /// The model (.tflite)
        model: PathBuf,
        /// Output directory (created if missing)
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Module name; defaults to the model's file stem
        #[arg(long)]
        name: Option<String>,
        /// Also write NAME.kiln: the graph and weights as one postcard blob,
        /// for kiln::blob::load (models stored in a flash partition)
        #[arg(long)]
        blob: bool,
    },
    /// Run the model on the host through the kiln runtime
    Run {
        /// The model (.tflite)
        model: PathBuf,
        /// Input as .npy, one per model input, in order (float data is
        /// quantized with the input's parameters when the model takes int8)
        #[arg(short, long = "input", value_name = "NPY", required = true)]
        inputs: Vec<PathBuf>,
        /// Write the first output to this .npy file
        #[arg(short, long, value_name = "NPY")]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Inspect { model, json } => {
            let graph = import::import(&model)?;
            let (compiled, problems) = match lower::compile(graph.clone()) {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e.to_string())),
            };
            let value = report::inspect_json(&graph, compiled.as_ref(), problems);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).expect("JSON values serialize")
                );
            } else {
                print!("{}", report::inspect_text(&value));
            }
        }
        Command::Compile {
            model,
            output,
            name,
            blob,
        } => {
            let compiled = kiln_codegen::compile_file(&model)?;
            let name = name.unwrap_or_else(|| kiln_codegen::builder::module_name(&model));
            let g = kiln_codegen::builder::write_module(&compiled, &output, &name)?;
            println!(
                "wrote {} and {}",
                g.module_file.display(),
                g.weights_file.display()
            );
            println!(
                "arena: {} bytes, constants in flash: {} bytes",
                g.arena_bytes, g.weights_bytes
            );
            if blob {
                let path = kiln_codegen::builder::write_blob(&compiled, &output, &name)?;
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                println!("wrote {} ({bytes} bytes)", path.display());
            }
        }
        Command::Run {
            model,
            inputs,
            output,
        } => {
            let compiled = kiln_codegen::compile_file(&model)?;
            let arrays = inputs
                .iter()
                .map(|p| npy::read(p))
                .collect::<Result<Vec<NpyArray>, Error>>()?;
            let outputs = kiln_codegen::run::HostRunner::new(&compiled).run(&arrays)?;
            for (i, out) in outputs.iter().enumerate() {
                print_output(i, out, &compiled.outputs[i].quantization);
            }
            if let (Some(path), Some(first)) = (output, outputs.first()) {
                npy::write(&path, first)?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}

fn print_output(index: usize, out: &NpyArray, q: &kiln::Quantization) {
    let values = out.to_f64();
    let shown: Vec<String> = values.iter().take(32).map(|v| format!("{v}")).collect();
    let more = if values.len() > 32 {
        format!(" ... ({} values)", values.len())
    } else {
        String::new()
    };
    println!(
        "output #{index} {:?} {:?}: [{}]{more}",
        out.dtype,
        out.shape,
        shown.join(", ")
    );
    if values.len() > 1 {
        let top = kiln::argmax(&values);
        let real = if q.scale > 0.0 && out.dtype == npy::NpyType::I8 {
            format!(
                " (score {:.4})",
                f64::from(q.scale) * (values[top] - f64::from(q.zero_point))
            )
        } else {
            String::new()
        };
        println!("top class: {top}{real}");
    } else if let Some(&v) = values.first() {
        if q.scale > 0.0 && out.dtype == npy::NpyType::I8 {
            println!(
                "value: {:.6}",
                f64::from(q.scale) * (v - f64::from(q.zero_point))
            );
        }
    }
}
