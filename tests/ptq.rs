//! kiln's own post-training quantization of the float MLPerf Tiny models,
//! calibrated on 100 generated inputs, against the int8 models the TFLite
//! converter made: on the golden inputs, kiln's int8 model agrees in top-1
//! with the float model at least as often as TFLite's int8 model does (and
//! for the anomaly-detection autoencoder, its reconstruction is as close).

mod common;

use std::path::Path;

use kiln_codegen::npy::{self, NpyArray, NpyType};
use kiln_codegen::quantize::observer::ObserverKind;
use kiln_codegen::run::HostRunner;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// 100 inputs made as the goldens' float inputs are (uniform int8 values,
/// dequantized with the int8 twin's input parameters, so that they cover
/// the model's input domain), from a seed of their own.
fn calibration(shape: &[usize], input: kiln::Quantization) -> NpyArray {
    let per: usize = shape.iter().product();
    let mut x = 0x853C_49E6_748F_EA9Bu64;
    let data: Vec<u8> = (0..100 * per)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (input.scale * (i32::from(x as u8 as i8) - input.zero_point) as f32).to_le_bytes()
        })
        .collect();
    let mut full = vec![100];
    full.extend_from_slice(shape);
    NpyArray {
        dtype: NpyType::F32,
        shape: full,
        data,
    }
}

fn argmax(a: &NpyArray) -> usize {
    kiln::argmax(&a.to_f64())
}

#[test]
fn kiln_ptq_agrees_with_float_at_least_as_often_as_tflite_int8() {
    let Some(shared) = common::shared_dir(repo()) else {
        return;
    };
    let cases = [
        (
            "vww_96_float",
            "mlperf-tiny/vww_96_float.tflite",
            "vww_96_int8",
            vec![96, 96, 3],
        ),
        (
            "pretrainedResnet",
            "mlperf-tiny/pretrainedResnet.tflite",
            "pretrainedResnet_quant",
            vec![32, 32, 3],
        ),
        (
            "ad01_fp32",
            "mlperf-tiny/ad01_fp32.tflite",
            "ad01_int8",
            vec![640],
        ),
    ];
    for (name, file, twin, shape) in cases {
        let path = shared.join("models").join(file);
        let float = kiln_codegen::compile_file(&path).unwrap();
        let tflite_int8 =
            kiln_codegen::compile_file(&shared.join("models").join(file.replace(name, twin)))
                .unwrap();
        let domain = tflite_int8.inputs[0].quantization;
        let int8 =
            kiln_codegen::quantize_file(&path, &calibration(&shape, domain), ObserverKind::MinMax)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (mut float_runner, mut int8_runner) = (HostRunner::new(&float), HostRunner::new(&int8));
        let (mut ours, mut tflite, mut total) = (0, 0, 0);
        let (mut our_error, mut tflite_error) = (0f64, 0f64);
        for case in common::cases(&shared, name) {
            let input = npy::read(&case.inputs[0]).unwrap();
            let want = float_runner
                .run(std::slice::from_ref(&input))
                .unwrap()
                .remove(0);
            let got = int8_runner.run(&[input]).unwrap().remove(0);
            let twin_path = case.output.to_string_lossy().replace(name, twin);
            let Ok(twin_out) = npy::read(Path::new(&twin_path)) else {
                continue;
            };
            // TFLite's int8 output, dequantized like ours.
            let q = tflite_int8.outputs[0].quantization;
            let twin_real: Vec<f64> = twin_out
                .to_f64()
                .iter()
                .map(|&v| f64::from(q.scale) * (v - f64::from(q.zero_point)))
                .collect();
            total += 1;
            ours += usize::from(argmax(&got) == argmax(&want));
            tflite += usize::from(kiln::argmax(&twin_real) == argmax(&want));
            let w = want.to_f64();
            our_error += got
                .to_f64()
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                / w.len() as f64;
            tflite_error += twin_real
                .iter()
                .zip(&w)
                .map(|(a, b)| (a - b).powi(2))
                .sum::<f64>()
                / w.len() as f64;
        }
        assert!(total > 0, "{name}: no golden samples with an int8 twin");
        println!(
            "{name}: top-1 agreement with float: kiln PTQ {ours}/{total}, TFLite int8 {tflite}/{total}; mean squared error kiln {:.3e}, TFLite {:.3e}",
            our_error / total as f64,
            tflite_error / total as f64
        );
        if name == "ad01_fp32" {
            assert!(
                our_error <= tflite_error * 1.5,
                "{name}: kiln's reconstruction error {our_error} vs TFLite's {tflite_error}"
            );
        } else {
            assert!(
                ours >= tflite,
                "{name}: kiln {ours}/{total} vs TFLite {tflite}/{total}"
            );
        }
    }
}
