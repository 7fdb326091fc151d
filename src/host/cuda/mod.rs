//! The CUDA backend: a kernel for every op kiln supports, in CUDA C
//! ([`SOURCES`]), compiled at run time by NVRTC through `cudarc`, batched
//! (one launch runs an op for every sample), with weights uploaded once.
//! Each kernel reads its op's descriptor, uploaded as the bytes C lays it
//! out in ([`plan`]), through the C struct [`header`] generates from the
//! Rust type. Outputs are byte-identical to the CPU kernels.
//!
//! Layer: host (std); uses `graph`, `exec::validate`, [`header`], [`plan`]
//! and `cudarc`.
//! cudarc panics when a CUDA library is absent, so every entry point first
//! checks that the library can be loaded and returns [`HostError`] if not.

use std::format;
use std::string::String;
use std::sync::Arc;
use std::vec;
use std::vec::Vec;

use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::{compile_ptx_with_opts, CompileOptions, Ptx};

use super::batch::check_inputs;
use super::HostError;
use crate::Graph;

pub mod header;
pub mod plan;

/// The kernels' CUDA C, by file, in the order they are compiled; they need
/// [`header::header`] in front of them.
pub const SOURCES: &[(&str, &str)] = &[
    ("common.cu", include_str!("common.cu")),
    ("conv.cu", include_str!("conv.cu")),
    ("elementwise.cu", include_str!("elementwise.cu")),
    ("layout.cu", include_str!("layout.cu")),
];

/// What NVRTC compiles: the generated declarations, then every file of
/// [`SOURCES`] (whose line numbers the compiler's messages keep).
/// The arenas of samples `first..first + n` back to back, `arena_bytes`
/// each, as the kernels take them: every sample from the model's reset
/// state (as on the CPU), its inputs in place (`inputs` as
/// `batch::check_inputs` accepts them).
pub fn arena_image(
    graph: &Graph,
    arena_bytes: usize,
    inputs: &[&[u8]],
    first: usize,
    n: usize,
) -> Vec<u8> {
    let mut image = vec![0u8; n * arena_bytes];
    for arena in image.chunks_exact_mut(arena_bytes.max(1)) {
        crate::graph::reset_state(graph.state, graph.weights, arena);
    }
    for (i, data) in inputs.iter().enumerate() {
        let span = graph.inputs[i].span;
        let len = span.len as usize;
        for k in 0..n {
            let at = k * arena_bytes + span.offset as usize;
            image[at..at + len].copy_from_slice(&data[(first + k) * len..(first + k + 1) * len]);
        }
    }
    image
}

pub fn source() -> String {
    let mut text = header::header();
    for (name, code) in SOURCES {
        text += &format!("\n#line 1 \"{name}\"\n{code}");
    }
    text
}

/// Whether NVRTC (libnvrtc) can be loaded.
pub fn compiler_available() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Whether the CUDA driver library (libcuda) can be loaded.
pub fn driver_available() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Compiles every kernel to PTX for `arch` (for example `compute_80`,
/// `sm_90`). Needs NVRTC but no GPU.
pub fn compile(arch: &'static str) -> Result<Ptx, HostError> {
    if !compiler_available() {
        return Err(HostError::NoCompiler);
    }
    let options = CompileOptions {
        arch: Some(arch),
        name: Some("kiln_kernels.cu".into()),
        // No fused multiply-adds: float products and sums round as the CPU
        // kernels round them.
        fmad: Some(false),
        ..Default::default()
    };
    compile_ptx_with_opts(source(), options).map_err(|e| HostError::Compile(format!("{e:?}")))
}

fn cuda(e: DriverError) -> HostError {
    let text = format!("{e:?}");
    if e.0 == cudarc::driver::sys::CUresult::CUDA_ERROR_OUT_OF_MEMORY {
        HostError::OutOfMemory(text)
    } else {
        HostError::Cuda(text)
    }
}

/// A graph on a GPU: kernels loaded, weights and kernel parameters uploaded.
pub struct CudaRunner<'g> {
    graph: &'g Graph<'g>,
    stream: Arc<CudaStream>,
    plan: plan::CudaPlan,
    functions: Vec<CudaFunction>,
    weights: CudaSlice<u8>,
    params: CudaSlice<u8>,
    device: String,
}

impl<'g> CudaRunner<'g> {
    /// Validates the graph, opens device 0, compiles the kernels and
    /// uploads the weights.
    pub fn new(graph: &'g Graph<'g>) -> Result<Self, HostError> {
        crate::exec::validate(graph)?;
        if !driver_available() {
            return Err(HostError::NoDriver);
        }
        let count =
            CudaContext::device_count().map_err(|e| HostError::NoDevice(format!("{e:?}")))?;
        if count < 1 {
            return Err(HostError::NoDevice("the driver reports no devices".into()));
        }
        let ctx = CudaContext::new(0).map_err(|e| HostError::NoDevice(format!("{e:?}")))?;
        let device = ctx.name().unwrap_or_else(|_| "CUDA device 0".into());
        let ptx = compile("compute_80")?;
        let module = ctx.load_module(ptx).map_err(cuda)?;
        let stream = ctx.default_stream();
        let plan = plan::plan(graph);
        let functions = plan
            .launches
            .iter()
            .map(|l| module.load_function(l.kernel).map_err(cuda))
            .collect::<Result<Vec<_>, _>>()?;
        // Never empty: a zero-length allocation is not a valid kernel argument.
        let weights = if graph.weights.is_empty() {
            vec![0u8; 16]
        } else {
            graph.weights.to_vec()
        };
        let params = if plan.params.is_empty() {
            vec![0u8; 16]
        } else {
            plan.params.clone()
        };
        let weights = stream.clone_htod(&weights).map_err(cuda)?;
        let params = stream.clone_htod(&params).map_err(cuda)?;
        Ok(CudaRunner {
            graph,
            stream,
            plan,
            functions,
            weights,
            params,
            device,
        })
    }

    /// The device's name.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Runs `samples` samples, at most `batch` per launch. Inputs and
    /// outputs as in [`super::batch::run_batch`].
    pub fn run_batch(
        &self,
        inputs: &[&[u8]],
        samples: usize,
        batch: usize,
    ) -> Result<Vec<Vec<u8>>, HostError> {
        check_inputs(self.graph, inputs, samples)?;
        let arena_bytes = self.plan.arena_bytes;
        let mut outputs: Vec<Vec<u8>> = self
            .graph
            .outputs
            .iter()
            .map(|o| vec![0u8; o.span.len as usize * samples])
            .collect();
        let batch = batch.max(1);
        let mut first = 0;
        while first < samples {
            let n = batch.min(samples - first);
            let image = arena_image(self.graph, arena_bytes, inputs, first, n);
            let mut arenas = self.stream.clone_htod(&image).map_err(cuda)?;
            let stride = arena_bytes as i64;
            let count = n as i32;
            for (launch, function) in self.plan.launches.iter().zip(&self.functions) {
                let total = launch.items * n as u64;
                let blocks = total.div_ceil(256).clamp(1, 1 << 20) as u32;
                let config = LaunchConfig {
                    grid_dim: (blocks, 1, 1),
                    block_dim: (256, 1, 1),
                    shared_mem_bytes: 0,
                };
                let params = self.params.slice(launch.params.clone());
                let mut builder = self.stream.launch_builder(function);
                builder
                    .arg(&params)
                    .arg(&self.weights)
                    .arg(&mut arenas)
                    .arg(&stride)
                    .arg(&count);
                // SAFETY: the kernel's parameters are (const u8*, const u8*,
                // u8*, long long, int) as pushed; the first points at this
                // op's descriptor, written by `Op::write_c` as the struct the
                // kernel reads (the generated header asserts their layouts
                // agree), 16-byte aligned; every index the kernel computes
                // from it was bounded by `exec::validate` on this graph, for
                // `count` arenas of `stride` bytes, which `arenas` holds.
                unsafe { builder.launch(config) }.map_err(cuda)?;
            }
            let image = self.stream.clone_dtoh(&arenas).map_err(cuda)?;
            for (o, out) in outputs.iter_mut().enumerate() {
                let span = self.graph.outputs[o].span;
                let len = span.len as usize;
                for k in 0..n {
                    let at = k * arena_bytes + span.offset as usize;
                    out[(first + k) * len..(first + k + 1) * len]
                        .copy_from_slice(&image[at..at + len]);
                }
            }
            first += n;
        }
        Ok(outputs)
    }
}
