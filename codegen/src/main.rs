//! The `kiln` command line: inspect, compile and run models on the host.
//!
//! Layer: top of kiln-codegen; uses the library's public API only.

use std::path::PathBuf;
use std::process::ExitCode;

/// `println!` and `print!` that end the program quietly when stdout is
/// closed early (`kiln inspect MODEL | head`) instead of panicking.
macro_rules! println {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        quiet_on_closed_pipe(writeln!(std::io::stdout(), $($arg)*));
    }};
}
macro_rules! print {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        quiet_on_closed_pipe(write!(std::io::stdout(), $($arg)*));
    }};
}

fn quiet_on_closed_pipe(written: std::io::Result<()>) {
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

use clap::{Parser, Subcommand};
use kiln_codegen::npy::{self, NpyArray};
use kiln_codegen::run::HostRunner;
use kiln_codegen::{blob_file, import, lower, report, validate, Error};

#[derive(Parser)]
#[command(
    name = "kiln",
    version,
    about = "Compile trained neural networks (.tflite, .onnx) into static Rust for microcontrollers",
    long_about = "Compile trained neural networks (.tflite, .onnx) into static Rust for microcontrollers.\n\n\
        kiln reads a TFLite or ONNX model (int8; float32, kept float or quantized to int8 with \
        --calibrate; or pre-quantized QDQ ONNX), plans one fixed arena for all activations, and \
        writes a Rust module whose weights live in flash. The same graph runs on the host with \
        `kiln run` and over whole data sets with `kiln validate` (CPU or CUDA), bit-exact with \
        TensorFlow Lite Micro on int8 models."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show ops, shapes, types, quantization, MACs, the planned arena and flash use
    Inspect {
        /// The model (.tflite or .onnx), or a compiled blob (.kiln: its ops,
        /// kernels, inputs, outputs, arena and constants, checked as the
        /// device checks them)
        model: PathBuf,
        /// Print JSON (top level: arena_bytes, macs, weight_bytes, ops, ...)
        #[arg(long)]
        json: bool,
        /// Also draw the arena plan as an SVG picture in this file: every
        /// tensor a rectangle (offset against lifetime), the peak marked
        #[arg(long, value_name = "FILE")]
        memory_svg: Option<PathBuf>,
        /// For a blob: check its signature with this public key (NAME.pub
        /// from `kiln keygen`); an unsigned or wrongly signed blob is an error
        #[arg(long, value_name = "PUB")]
        public_key: Option<PathBuf>,
    },
    /// Generate a Rust module (NAME.rs) and its weights (NAME.weights.bin)
    Compile {
        /// The model (.tflite or .onnx)
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
        /// Sign the blob with this secret key (NAME.key from `kiln keygen`),
        /// for kiln::blob::load_signed on the device
        #[arg(long, value_name = "KEY", requires = "blob")]
        sign: Option<PathBuf>,
        /// Quantize a float32 model to int8 first, calibrated on these
        /// samples (.npy stacking float32 inputs on a new first axis). A
        /// pre-quantized (QDQ) ONNX model compiles to int8 without it, with
        /// its own parameters; given, it calibrates what the model leaves out
        #[arg(long, value_name = "NPY")]
        calibrate: Option<PathBuf>,
        /// How calibration picks each activation's range
        #[arg(long, value_enum, default_value_t = ObserverArg::MinMax)]
        observer: ObserverArg,
    },
    /// Run the model over a data set on the CPU (all cores) or a CUDA GPU:
    /// accuracy or output statistics, throughput, and GPU-vs-CPU mismatches
    Validate {
        /// The model (.tflite or .onnx)
        model: PathBuf,
        /// Samples stacked on a new first axis (.npy): [N, ...input shape],
        /// with or without the input's leading batch dimension of 1; float
        /// data is quantized with the input's parameters when the model
        /// takes int8
        #[arg(long, value_name = "NPY")]
        data: PathBuf,
        /// Integer class labels, one per sample (.npy); gives top-1 accuracy
        #[arg(long, value_name = "NPY")]
        labels: Option<PathBuf>,
        /// Where to run
        #[arg(long, value_enum, default_value_t = DeviceArg::Cpu)]
        device: DeviceArg,
        /// Samples per GPU launch (and per progress step)
        #[arg(long, default_value_t = 1024)]
        batch: usize,
        /// With --device cuda: also run on the CPU and count the samples
        /// whose output bytes differ (must be 0)
        #[arg(long)]
        check: bool,
        /// CPU threads (default: every core)
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// For a float32 model: quantize it with these calibration samples
        /// and compare the float and int8 models (accuracy, top-1
        /// agreement, per-layer SQNR). A pre-quantized (QDQ) ONNX model is
        /// compared so without it: its float ops against its int8 model
        #[arg(long, value_name = "NPY")]
        calibrate: Option<PathBuf>,
        /// How calibration picks each activation's range
        #[arg(long, value_enum, default_value_t = ObserverArg::MinMax)]
        observer: ObserverArg,
        /// Print the summary as JSON (samples, inferences_per_second,
        /// accuracy, mismatches, ...)
        #[arg(long)]
        json: bool,
    },
    /// Run the model on the host through the kiln runtime
    Run {
        /// The model (.tflite or .onnx), or a compiled blob (.kiln), loaded
        /// and run as the device would: the same bytes as its model
        model: PathBuf,
        /// Input as .npy, one per model input, in order (float data is
        /// quantized with the input's parameters when the model takes int8)
        #[arg(short, long = "input", value_name = "NPY", required = true)]
        inputs: Vec<PathBuf>,
        /// Write the first output to this .npy file
        #[arg(short, long, value_name = "NPY")]
        output: Option<PathBuf>,
        /// For a blob: check its signature with this public key first
        #[arg(long, value_name = "PUB")]
        public_key: Option<PathBuf>,
    },
    /// Print which operators kiln runs: every op TensorFlow Lite Micro
    /// registers (builtins and its signal library), with kiln's status for
    /// int8, int16, float32 and other types (the signal library's uint32
    /// and uint64) beside TFLM's (docs/ops.md is this output)
    Ops {
        /// Print JSON (builtin and custom counts, and one entry per op)
        #[arg(long)]
        json: bool,
    },
    /// Write a new Ed25519 key pair for signed blobs: NAME.key (secret, keep
    /// it off the device) and NAME.pub (the public key, also printed as the
    /// Rust constant kiln::blob::load_signed takes)
    Keygen {
        /// Directory for the key files (created if missing)
        #[arg(short, long, value_name = "DIR", default_value = ".")]
        output: PathBuf,
        /// File name of the pair
        #[arg(long, default_value = "kiln")]
        name: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ObserverArg {
    /// The extremes seen (as TFLite's converter)
    MinMax,
    /// The central 99.99% (clips outliers)
    Percentile,
    /// The clipping that minimizes the mean squared quantization error
    Mse,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DeviceArg {
    Cpu,
    Cuda,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A blob's graph is loaded by value (`kiln::blob::load`, as on a
    // device): up to `blob_file::HOST_MAX_OPS` ops, half a megabyte, which
    // an unoptimized build copies a few times. A thread of its own has
    // room for that.
    let worker = std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || run(cli));
    match worker.map(|w| w.join()) {
        Ok(Ok(Ok(()))) => ExitCode::SUCCESS,
        Ok(Ok(Err(e))) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Ok(Err(_)) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: cannot start the worker thread: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Inspect {
            model,
            json,
            memory_svg,
            public_key,
        } => {
            if blob_file::is_blob(&model) {
                return inspect_blob(&model, json, memory_svg.is_some(), public_key.as_deref());
            }
            let mut graph = import::import(&model)?;
            let mut problems = None;
            if graph.is_prequantized() {
                // Show the int8 model the QDQ file describes.
                let kind = kiln_codegen::quantize::observer::ObserverKind::MinMax;
                match kiln_codegen::quantize::ptq::quantize(&graph, None, kind) {
                    Ok(int8) => graph = int8,
                    Err(e) => problems = Some(e.to_string()),
                }
            }
            let compiled = match problems {
                Some(_) => None,
                None => match lower::compile(graph.clone()) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        problems = Some(e.to_string());
                        None
                    }
                },
            };
            if let Some(path) = &memory_svg {
                let plan = match &compiled {
                    Some(c) => c.plan.clone(),
                    None => kiln_codegen::plan::plan(&graph),
                };
                let svg = kiln_codegen::plan_svg::plan_svg(&graph, &plan);
                std::fs::write(path, svg).map_err(|e| Error::Io {
                    path: path.clone(),
                    source: e,
                })?;
                eprintln!("wrote {}", path.display());
            }
            let value = report::inspect_json(&graph, compiled.as_ref(), problems);
            print_report(&value, json, report::inspect_text);
        }
        Command::Compile {
            model,
            output,
            name,
            blob,
            sign,
            calibrate,
            observer,
        } => {
            let compiled = match calibrate {
                Some(calibration) => {
                    let kind = observer_kind(observer);
                    let data = npy::read(&calibration)?;
                    let spinner = indicatif::ProgressBar::new_spinner();
                    spinner.set_message(format!(
                        "calibrating on {} samples",
                        data.shape.first().copied().unwrap_or(0)
                    ));
                    spinner.enable_steady_tick(std::time::Duration::from_millis(100));
                    let q = kiln_codegen::quantize_file(&model, &data, kind);
                    spinner.finish_and_clear();
                    let q = q?;
                    println!(
                        "quantized to int8 with {} calibration samples",
                        data.shape.first().copied().unwrap_or(0)
                    );
                    print_float_ops(&q.graph);
                    q
                }
                None => {
                    let compiled = kiln_codegen::compile_file(&model)?;
                    print_float_ops(&compiled.graph);
                    compiled
                }
            };
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
                let path =
                    kiln_codegen::builder::write_blob(&compiled, &output, &name, sign.as_deref())?;
                let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let signed = if sign.is_some() { ", signed" } else { "" };
                println!("wrote {} ({bytes} bytes{signed})", path.display());
            }
        }
        Command::Validate {
            model,
            data,
            labels,
            device,
            batch,
            check,
            threads,
            json,
            calibrate,
            observer,
        } => {
            let prequantized = import::import(&model)?.is_prequantized();
            if calibrate.is_some() || prequantized {
                // Float against int8: calibrated, or as the QDQ model says.
                let compiled = kiln_codegen::compile_float_file(&model)?;
                let int8 = match calibrate {
                    Some(calibration) => kiln_codegen::quantize_file(
                        &model,
                        &npy::read(&calibration)?,
                        observer_kind(observer),
                    )?,
                    None => kiln_codegen::compile_file(&model)?,
                };
                let bar = indicatif::ProgressBar::new(0);
                let mut progress = |done: usize, total: usize| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                };
                let summary =
                    validate::compare(&compiled, &int8, &data, labels.as_deref(), &mut progress)?;
                bar.finish_and_clear();
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&summary).expect("JSON values serialize")
                    );
                } else {
                    print_comparison(&summary);
                }
                return Ok(());
            }
            let compiled = kiln_codegen::compile_file(&model)?;
            let device = match device {
                DeviceArg::Cpu => validate::Device::Cpu,
                DeviceArg::Cuda => validate::Device::Cuda,
            };
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} samples {per_sec} eta {eta}",
                )
                .expect("static template"),
            );
            let mut progress = |done: usize, total: usize| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            };
            let options = validate::Options {
                device,
                batch,
                check,
                threads,
            };
            let summary =
                validate::validate(&compiled, &data, labels.as_deref(), &options, &mut progress)?;
            bar.finish_and_clear();
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&summary).expect("JSON values serialize")
                );
            } else {
                print_summary(&summary);
            }
            if summary["mismatches"].as_u64().unwrap_or(0) > 0 {
                return Err(Error::Data {
                    path: model,
                    detail: format!(
                        "{} samples differ between the GPU and the CPU",
                        summary["mismatches"]
                    ),
                });
            }
        }
        Command::Ops { json } => match json {
            true => println!(
                "{}",
                serde_json::to_string_pretty(&kiln_codegen::support::json())
                    .expect("plain JSON values")
            ),
            false => print!("{}", kiln_codegen::support::markdown()),
        },
        Command::Keygen { output, name } => {
            let pair = kiln_codegen::signing::keygen(&output, &name)?;
            println!(
                "wrote {} (secret: keep it off the device and out of version control)",
                pair.secret_file.display()
            );
            println!("wrote {}", pair.public_file.display());
            println!("for the firmware (kiln::blob::load_signed(blob, &PUBLIC_KEY)):");
            println!("{}", kiln_codegen::signing::rust_constant(&pair.public_key));
        }
        Command::Run {
            model,
            inputs,
            output,
            public_key,
        } => {
            // The model first, so that its errors come before the inputs'.
            let read_inputs = || {
                inputs
                    .iter()
                    .map(|p| npy::read(p))
                    .collect::<Result<Vec<NpyArray>, Error>>()
            };
            // A blob runs as the device would load it; a model file as compiled.
            let (outputs, quantization) = if blob_file::is_blob(&model) {
                let file = blob_file::BlobFile::read(&model)?;
                let key = read_public_key(public_key.as_deref())?;
                let (loaded, _) = file.load(key.as_ref())?;
                let graph = loaded.graph();
                let outputs = HostRunner::for_graph(graph, &model).run(&read_inputs()?)?;
                let q: Vec<_> = graph.outputs.iter().map(|o| o.quantization).collect();
                (outputs, q)
            } else {
                let compiled = kiln_codegen::compile_file(&model)?;
                let outputs = HostRunner::new(&compiled).run(&read_inputs()?)?;
                let q: Vec<_> = compiled.outputs.iter().map(|o| o.quantization).collect();
                (outputs, q)
            };
            for (i, (out, q)) in outputs.iter().zip(&quantization).enumerate() {
                print_output(i, out, q);
            }
            if let (Some(path), Some(first)) = (output, outputs.first()) {
                npy::write(&path, first)?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}

fn read_public_key(path: Option<&std::path::Path>) -> Result<Option<[u8; 32]>, Error> {
    path.map(kiln_codegen::signing::read_key).transpose()
}

/// `kiln inspect` of a compiled blob: what the device will run.
fn inspect_blob(
    path: &std::path::Path,
    json: bool,
    memory_svg: bool,
    public_key: Option<&std::path::Path>,
) -> Result<(), Error> {
    if memory_svg {
        return Err(Error::Data {
            path: path.to_owned(),
            detail: "a blob keeps no tensor lifetimes to draw: give --memory-svg the model it was compiled from".into(),
        });
    }
    let file = blob_file::BlobFile::read(path)?;
    let key = read_public_key(public_key)?;
    let (loaded, signature) = file.load(key.as_ref())?;
    let value = blob_file::inspect_json(&file, &loaded.graph(), signature);
    print_report(&value, json, blob_file::inspect_text);
    Ok(())
}

/// An `inspect` report as JSON, or as the text `table` makes of it.
fn print_report(value: &serde_json::Value, json: bool, table: fn(&serde_json::Value) -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("JSON values serialize")
        );
    } else {
        print!("{}", table(value));
    }
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
    // Bools are flags, not scores of classes.
    if values.len() > 1 && out.dtype != npy::NpyType::Bool {
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

fn print_summary(s: &serde_json::Value) {
    println!("model:      {}", s["model"].as_str().unwrap_or(""));
    println!("device:     {}", s["device"].as_str().unwrap_or(""));
    println!("samples:    {}", s["samples"]);
    println!(
        "throughput: {:.1} inferences/s",
        s["inferences_per_second"].as_f64().unwrap_or(0.0)
    );
    if let Some(a) = s["accuracy"].as_f64() {
        println!("accuracy:   {:.4} (top-1, {} correct)", a, s["correct"]);
    }
    if let Some(m) = s["output_mean"].as_f64() {
        println!(
            "outputs:    mean {m:.6}, std {:.6}, min {:.6}, max {:.6} (dequantized)",
            s["output_std"].as_f64().unwrap_or(0.0),
            s["output_min"].as_f64().unwrap_or(0.0),
            s["output_max"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(m) = s["mismatches"].as_u64() {
        println!("GPU vs CPU: {m} samples differ");
    }
}

/// Says which ops of an int8 model run in float32 (none in a float model).
fn print_float_ops(g: &kiln_codegen::ir::Graph) {
    let int8 = g
        .tensors
        .iter()
        .any(|t| t.dtype == kiln_codegen::ir::DataType::I8);
    let float = kiln_codegen::quantize::ptq::float_ops(g);
    if int8 && !float.is_empty() {
        let list: Vec<String> = float.iter().map(|(op, n)| format!("{op} x{n}")).collect();
        println!(
            "kept in float32 (no int8 kernel yet), between DEQUANTIZE and QUANTIZE: {}",
            list.join(", ")
        );
    }
}

fn observer_kind(o: ObserverArg) -> kiln_codegen::quantize::observer::ObserverKind {
    use kiln_codegen::quantize::observer::ObserverKind;
    match o {
        ObserverArg::MinMax => ObserverKind::MinMax,
        ObserverArg::Percentile => ObserverKind::Percentile,
        ObserverArg::Mse => ObserverKind::Mse,
    }
}

fn print_comparison(s: &serde_json::Value) {
    println!("model:      {}", s["model"].as_str().unwrap_or(""));
    println!("samples:    {}", s["samples"]);
    if let (Some(f), Some(q)) = (s["float_accuracy"].as_f64(), s["int8_accuracy"].as_f64()) {
        println!(
            "accuracy:   float {f:.4}, int8 {q:.4} ({:+.2} points)",
            (q - f) * 100.0
        );
    }
    println!(
        "agreement:  {:.4} (top-1, float vs int8)",
        s["agreement"].as_f64().unwrap_or(0.0)
    );
    println!("\nper-layer SQNR of the int8 activations (worst first):");
    for row in s["sqnr"].as_array().into_iter().flatten() {
        println!(
            "  {:>7.2} dB  {:<20} {}",
            row["db"].as_f64().unwrap_or(0.0),
            row["op"].as_str().unwrap_or(""),
            row["tensor"].as_str().unwrap_or("")
        );
    }
}
