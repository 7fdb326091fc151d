fn main() {
    kiln_suite_builder::memory_x();
    kiln_suite_builder::generate();
}
