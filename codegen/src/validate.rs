//! `kiln validate`: a compiled model over a whole data set on the CPU (every
//! core) or a CUDA GPU, with accuracy against labels or output statistics,
//! throughput, and with `check` the number of samples whose bytes differ
//! between the GPU and the CPU.
//!
//! Layer: top of kiln-codegen (feature `host`); uses `lower`, `npy` and
//! `kiln::host`.

use std::path::Path;
use std::time::Instant;

use kiln::host::{batch, cuda, HostError};
use kiln::DType;
use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::lower::CompiledModel;
use crate::npy::{NpyArray, NpyType};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda,
}

pub struct Options {
    pub device: Device,
    /// Samples per GPU launch (and per progress step on the CPU).
    pub batch: usize,
    /// With CUDA: also run on the CPU and count differing samples.
    pub check: bool,
    /// CPU threads (0: every core).
    pub threads: usize,
}

/// Called after each chunk with (samples done, total).
pub type Progress<'a> = &'a mut dyn FnMut(usize, usize);

fn host_err(path: &Path, e: HostError) -> Error {
    match e {
        HostError::Kiln(error) => Error::Runtime {
            path: path.to_owned(),
            error,
        },
        other => Error::Data {
            path: path.to_owned(),
            detail: other.to_string(),
        },
    }
}

/// The model input's bytes for every sample of `data`: `data` stacks
/// samples on a new first axis, each sample with or without the model's
/// leading batch dimension of 1; float data is quantized with the input's
/// parameters when the model takes int8.
pub fn samples_from(
    model: &CompiledModel,
    data: &NpyArray,
    path: &Path,
) -> Result<(Vec<u8>, usize)> {
    let [io] = &model.inputs[..] else {
        return Err(Error::Data {
            path: path.to_owned(),
            detail: format!(
                "validate takes single-input models; this one has {} inputs (use kiln run)",
                model.inputs.len()
            ),
        });
    };
    let shape: Vec<usize> = io.shape().iter().map(|&d| d as usize).collect();
    let per_sample: usize = shape.iter().product();
    let without_batch = if shape.first() == Some(&1) {
        &shape[1..]
    } else {
        &shape[..]
    };
    let ok = !data.shape.is_empty()
        && (data.shape[1..] == shape[..] || data.shape[1..] == *without_batch);
    if !ok || per_sample == 0 {
        return Err(Error::Data {
            path: path.to_owned(),
            detail: format!(
                "shape {:?}: expected [N, {}] (N samples of the model input {shape:?})",
                data.shape,
                without_batch
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let samples = data.shape[0];
    let bytes = match (data.dtype, io.dtype) {
        (NpyType::I8, DType::I8) | (NpyType::F32, DType::F32) => data.data.clone(),
        (NpyType::F32 | NpyType::F64, DType::I8) => {
            let params = kiln::kernels::quantize::AffineParams {
                scale: io.quantization.scale,
                zero_point: io.quantization.zero_point,
            };
            let floats: Vec<f32> = data.to_f64().into_iter().map(|v| v as f32).collect();
            let mut out = vec![0i8; floats.len()];
            kiln::kernels::quantize::quantize_f32_to_s8(&params, &floats, &mut out);
            bytemuck::cast_slice(&out).to_vec()
        }
        (have, want) => {
            return Err(Error::Data {
                path: path.to_owned(),
                detail: format!("{have:?} data, the model takes {want:?}"),
            })
        }
    };
    Ok((bytes, samples))
}

/// Runs the validation and returns the summary (see `kiln validate --help`).
pub fn validate(
    model: &CompiledModel,
    data_path: &Path,
    labels_path: Option<&Path>,
    options: &Options,
    progress: Progress,
) -> Result<Value> {
    let data = crate::npy::read(data_path)?;
    let (inputs, samples) = samples_from(model, &data, data_path)?;
    let labels = match labels_path {
        Some(p) => {
            let l = crate::npy::read(p)?;
            let values: Vec<i64> = l.to_f64().into_iter().map(|v| v as i64).collect();
            if values.len() != samples {
                return Err(Error::Data {
                    path: p.to_owned(),
                    detail: format!("{} labels for {samples} samples", values.len()),
                });
            }
            Some(values)
        }
        None => None,
    };
    let graph = model.runtime_graph();
    let source = model.source().clone();
    let in_len = inputs.len() / samples.max(1);
    let chunk = options.batch.max(1);

    let runner = match options.device {
        Device::Cuda => Some(cuda::CudaRunner::new(&graph).map_err(|e| host_err(&source, e))?),
        Device::Cpu => None,
    };
    let start = Instant::now();
    let mut outputs = Vec::with_capacity(samples * graph.outputs[0].span.len as usize);
    let mut first = 0;
    while first < samples {
        let n = chunk.min(samples - first);
        let slice = &inputs[first * in_len..(first + n) * in_len];
        let out = match &runner {
            Some(r) => r.run_batch(&[slice], n, n),
            None => batch::run_batch(&graph, &[slice], n, options.threads),
        }
        .map_err(|e| host_err(&source, e))?;
        outputs.extend_from_slice(&out[0]);
        first += n;
        progress(first, samples);
    }
    let seconds = start.elapsed().as_secs_f64();

    let out_io = graph.outputs[0];
    let out_len = out_io.span.len as usize;
    let mut summary = json!({
        "model": source.display().to_string(),
        "device": match &runner { Some(r) => r.device().to_string(), None => "cpu".to_string() },
        "threads": if runner.is_some() { 0 } else if options.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { options.threads },
        "samples": samples,
        "seconds": seconds,
        "inferences_per_second": samples as f64 / seconds.max(1e-9),
    });
    let values = NpyArray {
        dtype: crate::run::npy_type(out_io.dtype),
        shape: vec![outputs.len() / out_io.dtype.size()],
        data: outputs.clone(),
    }
    .to_f64();
    let per_sample = values.len() / samples.max(1);
    let q = out_io.quantization;
    let real = |v: f64| {
        if out_io.dtype == DType::I8 && q.scale > 0.0 {
            f64::from(q.scale) * (v - f64::from(q.zero_point))
        } else {
            v
        }
    };
    if let Some(labels) = &labels {
        let correct = (0..samples)
            .filter(|&s| {
                kiln::argmax(&values[s * per_sample..(s + 1) * per_sample]) as i64 == labels[s]
            })
            .count();
        summary["accuracy"] = json!(correct as f64 / samples.max(1) as f64);
        summary["correct"] = json!(correct);
    } else {
        let reals: Vec<f64> = values.iter().map(|&v| real(v)).collect();
        let mean = reals.iter().sum::<f64>() / reals.len().max(1) as f64;
        let var = reals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / reals.len().max(1) as f64;
        summary["output_mean"] = json!(mean);
        summary["output_std"] = json!(var.sqrt());
        summary["output_min"] = json!(reals.iter().cloned().fold(f64::INFINITY, f64::min));
        summary["output_max"] = json!(reals.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
    }
    if options.check && runner.is_some() {
        let cpu =
            batch::run_batch(&graph, &[&inputs], samples, 0).map_err(|e| host_err(&source, e))?;
        let mismatches = (0..samples)
            .filter(|&s| {
                cpu[0][s * out_len..(s + 1) * out_len] != outputs[s * out_len..(s + 1) * out_len]
            })
            .count();
        summary["mismatches"] = json!(mismatches);
    }
    Ok(summary)
}

/// Float model against its int8 quantization on the same data (CPU): the
/// accuracy of each (with labels), how often their top-1 agree, and the
/// per-layer SQNR of the int8 activations over the first samples, worst
/// first.
pub fn compare(
    float: &CompiledModel,
    int8: &CompiledModel,
    data_path: &Path,
    labels_path: Option<&Path>,
    progress: Progress,
) -> Result<Value> {
    let data = crate::npy::read(data_path)?;
    let (inputs, samples) = samples_from(float, &data, data_path)?;
    let labels = match labels_path {
        Some(p) => {
            let values: Vec<i64> = crate::npy::read(p)?
                .to_f64()
                .into_iter()
                .map(|v| v as i64)
                .collect();
            if values.len() != samples {
                return Err(Error::Data {
                    path: p.to_owned(),
                    detail: format!("{} labels for {samples} samples", values.len()),
                });
            }
            Some(values)
        }
        None => None,
    };
    let source = float.source().clone();
    let run = |m: &CompiledModel| -> Result<Vec<f64>> {
        let graph = m.runtime_graph();
        let out =
            batch::run_batch(&graph, &[&inputs], samples, 0).map_err(|e| host_err(&source, e))?;
        let io = graph.outputs[0];
        let array = NpyArray {
            dtype: if io.dtype == DType::F32 {
                NpyType::F32
            } else {
                NpyType::I8
            },
            shape: vec![out[0].len() / io.dtype.size()],
            data: out[0].clone(),
        };
        Ok(array.to_f64())
    };
    let f = run(float)?;
    progress(samples / 2, samples);
    let q = run(int8)?;
    progress(samples, samples);
    let per = f.len() / samples.max(1);
    let top = |v: &[f64], s: usize| kiln::argmax(&v[s * per..(s + 1) * per]) as i64;
    let agreement =
        (0..samples).filter(|&s| top(&f, s) == top(&q, s)).count() as f64 / samples.max(1) as f64;
    let in_len = inputs.len() / samples.max(1);
    let probe = samples.min(32);
    let mut sqnr = crate::quantize::sqnr::layer_sqnr(float, int8, &inputs[..probe * in_len], probe);
    sqnr.sort_by(|a, b| a.2.partial_cmp(&b.2).unwrap_or(std::cmp::Ordering::Equal));
    let mut summary = json!({
        "model": source.display().to_string(),
        "samples": samples,
        "agreement": agreement,
        "sqnr": sqnr.iter().map(|(op, tensor, db)| json!({"op": op, "tensor": tensor, "db": db})).collect::<Vec<_>>(),
    });
    if let Some(labels) = labels {
        let acc = |v: &[f64]| {
            (0..samples).filter(|&s| top(v, s) == labels[s]).count() as f64 / samples.max(1) as f64
        };
        summary["float_accuracy"] = json!(acc(&f));
        summary["int8_accuracy"] = json!(acc(&q));
    }
    Ok(summary)
}
