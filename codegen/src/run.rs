//! Running a compiled model on the host through the kiln runtime, with
//! `.npy` arrays in and out: the `kiln run` command and the tests.
//!
//! Layer: top of kiln-codegen; uses `lower`, `npy` and `kiln::Executor`
//! (the same executor and op code the firmware runs). A blob's graph
//! (`blob_file`) runs through it the same way.

use std::path::{Path, PathBuf};

use kiln::{DType, Executor, TensorIo};

use crate::error::{Error, Result};
use crate::lower::CompiledModel;
use crate::npy::{NpyArray, NpyType};

/// A reusable host arena for one model (16-byte aligned).
pub struct HostRunner<'m> {
    graph: kiln::Graph<'m>,
    path: PathBuf,
    arena: Vec<u128>,
}

impl<'m> HostRunner<'m> {
    pub fn new(model: &'m CompiledModel) -> Self {
        Self::for_graph(model.runtime_graph(), model.source())
    }

    /// Runs a graph that did not come from the compiler (a blob's);
    /// `path` names it in errors.
    pub fn for_graph(graph: kiln::Graph<'m>, path: &Path) -> Self {
        HostRunner {
            graph,
            path: path.to_owned(),
            arena: vec![0; (graph.arena_bytes as usize).div_ceil(16).max(1)],
        }
    }

    /// Runs one inference; inputs in model order. Integer inputs must have
    /// the model's type; float data for an int8 input is quantized with the
    /// input's scale and zero point. A missing leading batch dimension of 1
    /// is accepted.
    pub fn run(&mut self, inputs: &[NpyArray]) -> Result<Vec<NpyArray>> {
        let path = self.path.clone();
        let graph = &self.graph;
        if inputs.len() != graph.inputs.len() {
            return Err(Error::Data {
                path,
                detail: format!(
                    "the model takes {} input(s), {} given",
                    graph.inputs.len(),
                    inputs.len()
                ),
            });
        }
        let arena: &mut [u8] = bytemuck::cast_slice_mut(&mut self.arena);
        let mut exec = Executor::new(graph, arena).map_err(|error| Error::Runtime {
            path: path.clone(),
            error,
        })?;
        for (i, (array, io)) in inputs.iter().zip(graph.inputs).enumerate() {
            let bytes = input_bytes(array, io).map_err(|detail| Error::Data {
                path: path.clone(),
                detail: format!("input #{i}: {detail}"),
            })?;
            exec.set_input(i, &bytes).map_err(|error| Error::Runtime {
                path: path.clone(),
                error,
            })?;
        }
        if exec.run() == kiln::Ran::EndedEarly {
            // Each call starts from the reset state, so such a model never
            // gets past its CIRCULAR_BUFFER here.
            return Err(Error::Data {
                path,
                detail: kiln::exec::ENDS_FRESH_RUNS_EARLY.into(),
            });
        }
        graph
            .outputs
            .iter()
            .enumerate()
            .map(|(i, io)| {
                let bytes = exec.output(i).map_err(|error| Error::Runtime {
                    path: path.clone(),
                    error,
                })?;
                Ok(NpyArray {
                    dtype: npy_type(io.dtype),
                    shape: io.shape().iter().map(|&d| d as usize).collect(),
                    data: bytes.to_vec(),
                })
            })
            .collect()
    }
}

/// The `.npy` element type of a model input or output.
pub(crate) fn npy_type(d: DType) -> NpyType {
    match d {
        DType::U32 => NpyType::U32,
        DType::U64 => NpyType::U64,
        DType::Bool => NpyType::Bool,
        DType::I8 => NpyType::I8,
        DType::I16 => NpyType::I16,
        DType::I32 => NpyType::I32,
        DType::F32 => NpyType::F32,
    }
}

/// Converts one array to the bytes of a model input, checking its size.
fn input_bytes(array: &NpyArray, io: &TensorIo) -> std::result::Result<Vec<u8>, String> {
    let want: usize = io.shape().iter().map(|&d| d as usize).product();
    if array.elements() != want {
        return Err(format!(
            "{} values of shape {:?}, the model takes {want} (shape {:?})",
            array.elements(),
            array.shape,
            io.shape()
        ));
    }
    let target = npy_type(io.dtype);
    if array.dtype == target {
        return Ok(array.data.clone());
    }
    match (array.dtype, io.dtype) {
        (NpyType::F32 | NpyType::F64, DType::I8) => {
            let q = io.quantization;
            let params = kiln::kernels::quantize::AffineParams {
                scale: q.scale,
                zero_point: q.zero_point,
            };
            let floats: Vec<f32> = array.to_f64().into_iter().map(|v| v as f32).collect();
            let mut out = vec![0i8; floats.len()];
            kiln::kernels::quantize::quantize_f32_to_s8(&params, &floats, &mut out);
            Ok(bytemuck::cast_slice(&out).to_vec())
        }
        (NpyType::F64, DType::F32) => Ok(array
            .to_f64()
            .into_iter()
            .flat_map(|v| (v as f32).to_le_bytes())
            .collect()),
        (have, _) => Err(format!("{have:?} data, the model takes {:?}", io.dtype)),
    }
}
