//! A minimal TFLite writer: one subgraph of tensors, constant buffers and
//! builtin operators, laid out as `schema.fbs` says (field slots are the
//! schema's field order), enough for the generated single-op models.

use flatbuffers::{FlatBufferBuilder, WIPOffset};

/// TFLite `TensorType` codes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum TensorType {
    F32 = 0,
    I32 = 2,
    I8 = 9,
}

/// A tensor's quantization: one scale and zero point, or one per slice
/// along `axis` (per-channel weights).
#[derive(Clone, Debug)]
pub struct Quant {
    pub scales: Vec<f32>,
    pub zero_points: Vec<i64>,
    pub axis: i32,
}

impl Quant {
    pub fn tensor(scale: f32, zero_point: i32) -> Quant {
        Quant {
            scales: vec![scale],
            zero_points: vec![zero_point as i64],
            axis: 0,
        }
    }
}

/// One field of an options table: its slot (the field's index in the
/// schema) and value.
#[derive(Clone, Debug)]
pub enum Field {
    I8(usize, i8),
    I32(usize, i32),
    F32(usize, f32),
    Bool(usize, bool),
    I32s(usize, Vec<i32>),
}

/// An operator's `builtin_options`: the union's type code and the table's
/// fields (`None` for an op that has no options).
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub union_type: u8,
    pub fields: Vec<Field>,
}

struct Tensor {
    shape: Vec<i32>,
    dtype: TensorType,
    buffer: u32,
    quant: Option<Quant>,
}

struct Operator {
    code: i32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    options: Options,
}

/// A model being built: tensors are numbered in the order they are added.
#[derive(Default)]
pub struct Model {
    tensors: Vec<Tensor>,
    /// Buffer 0 is TFLite's empty sentinel; constants start at 1.
    buffers: Vec<Vec<u8>>,
    operators: Vec<Operator>,
}

fn slot(field: usize) -> u16 {
    4 + 2 * field as u16
}

impl Model {
    pub fn new() -> Model {
        Model {
            buffers: vec![Vec::new()],
            ..Model::default()
        }
    }

    /// A tensor computed at run time (an input, an output or between ops).
    pub fn tensor(&mut self, shape: &[usize], dtype: TensorType, quant: Option<Quant>) -> i32 {
        self.tensors.push(Tensor {
            shape: shape.iter().map(|&d| d as i32).collect(),
            dtype,
            buffer: 0,
            quant,
        });
        self.tensors.len() as i32 - 1
    }

    /// A constant tensor holding `data` (little-endian bytes).
    pub fn constant(
        &mut self,
        shape: &[usize],
        dtype: TensorType,
        quant: Option<Quant>,
        data: Vec<u8>,
    ) -> i32 {
        self.buffers.push(data);
        let t = self.tensor(shape, dtype, quant);
        self.tensors[t as usize].buffer = self.buffers.len() as u32 - 1;
        t
    }

    pub fn constant_i8(&mut self, shape: &[usize], quant: Quant, data: &[i8]) -> i32 {
        let bytes = data.iter().map(|&v| v as u8).collect();
        self.constant(shape, TensorType::I8, Some(quant), bytes)
    }

    pub fn constant_i32(&mut self, shape: &[usize], quant: Option<Quant>, data: &[i32]) -> i32 {
        let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(shape, TensorType::I32, quant, bytes)
    }

    /// An operator; `-1` in `inputs` is an absent optional input.
    pub fn operator(&mut self, code: i32, inputs: &[i32], outputs: &[i32], options: Options) {
        self.operators.push(Operator {
            code,
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
            options,
        });
    }

    /// The flatbuffer, with `inputs` and `outputs` as the subgraph's.
    pub fn finish(&self, inputs: &[i32], outputs: &[i32]) -> Vec<u8> {
        let mut b = FlatBufferBuilder::new();
        let mut tensors = Vec::new();
        for (i, t) in self.tensors.iter().enumerate() {
            let name = b.create_string(&format!("t{i}"));
            let shape = b.create_vector(&t.shape);
            let quant = t.quant.as_ref().map(|q| {
                let scales = b.create_vector(&q.scales);
                let zero_points = b.create_vector(&q.zero_points);
                let table = b.start_table();
                b.push_slot_always::<WIPOffset<_>>(slot(2), scales);
                b.push_slot_always::<WIPOffset<_>>(slot(3), zero_points);
                b.push_slot::<i32>(slot(6), q.axis, 0);
                b.end_table(table)
            });
            let table = b.start_table();
            b.push_slot_always::<WIPOffset<_>>(slot(0), shape);
            b.push_slot::<i8>(slot(1), t.dtype as i8, 0);
            b.push_slot::<u32>(slot(2), t.buffer, 0);
            b.push_slot_always::<WIPOffset<_>>(slot(3), name);
            if let Some(q) = quant {
                b.push_slot_always::<WIPOffset<_>>(slot(4), q);
            }
            tensors.push(b.end_table(table));
        }
        let tensors = b.create_vector(&tensors);

        let mut codes: Vec<i32> = Vec::new();
        let mut operators = Vec::new();
        for op in &self.operators {
            let index = match codes.iter().position(|&c| c == op.code) {
                Some(i) => i,
                None => {
                    codes.push(op.code);
                    codes.len() - 1
                }
            };
            let options = (op.options.union_type != 0).then(|| {
                let vectors: Vec<_> = op
                    .options
                    .fields
                    .iter()
                    .map(|f| match f {
                        Field::I32s(_, v) => Some(b.create_vector(v)),
                        _ => None,
                    })
                    .collect();
                let table = b.start_table();
                for (f, v) in op.options.fields.iter().zip(vectors) {
                    match *f {
                        Field::I8(s, x) => b.push_slot_always::<i8>(slot(s), x),
                        Field::I32(s, x) => b.push_slot_always::<i32>(slot(s), x),
                        Field::F32(s, x) => b.push_slot_always::<f32>(slot(s), x),
                        Field::Bool(s, x) => b.push_slot_always::<bool>(slot(s), x),
                        Field::I32s(s, _) => {
                            b.push_slot_always::<WIPOffset<_>>(slot(s), v.expect("vector"))
                        }
                    }
                }
                b.end_table(table)
            });
            let inputs = b.create_vector(&op.inputs);
            let outputs = b.create_vector(&op.outputs);
            let table = b.start_table();
            b.push_slot::<u32>(slot(0), index as u32, 0);
            b.push_slot_always::<WIPOffset<_>>(slot(1), inputs);
            b.push_slot_always::<WIPOffset<_>>(slot(2), outputs);
            if let Some(options) = options {
                b.push_slot::<u8>(slot(3), op.options.union_type, 0);
                b.push_slot_always::<WIPOffset<_>>(slot(4), options);
            }
            operators.push(b.end_table(table));
        }
        let operators = b.create_vector(&operators);
        let codes: Vec<_> = codes
            .iter()
            .map(|&code| {
                let table = b.start_table();
                // Codes above 127 live only in `builtin_code`; the
                // deprecated byte then holds PLACEHOLDER_FOR_GREATER_OP_CODES.
                b.push_slot::<i8>(slot(0), code.min(127) as i8, 0);
                b.push_slot::<i32>(slot(2), 1, 1);
                b.push_slot::<i32>(slot(3), code, 0);
                b.end_table(table)
            })
            .collect();
        let codes = b.create_vector(&codes);

        let (inputs, outputs) = (b.create_vector(inputs), b.create_vector(outputs));
        let name = b.create_string("main");
        let subgraph = b.start_table();
        b.push_slot_always::<WIPOffset<_>>(slot(0), tensors);
        b.push_slot_always::<WIPOffset<_>>(slot(1), inputs);
        b.push_slot_always::<WIPOffset<_>>(slot(2), outputs);
        b.push_slot_always::<WIPOffset<_>>(slot(3), operators);
        b.push_slot_always::<WIPOffset<_>>(slot(4), name);
        let subgraph = b.end_table(subgraph);
        let subgraphs = b.create_vector(&[subgraph]);

        let buffers: Vec<_> = self
            .buffers
            .iter()
            .map(|data| {
                let data = (!data.is_empty()).then(|| {
                    // The builder aligns a vector's length to 4 bytes, so
                    // int32 data that follows it is aligned too.
                    b.start_vector::<u8>(data.len());
                    for &x in data.iter().rev() {
                        b.push(x);
                    }
                    b.end_vector::<u8>(data.len())
                });
                let table = b.start_table();
                if let Some(d) = data {
                    b.push_slot_always::<WIPOffset<_>>(slot(0), d);
                }
                b.end_table(table)
            })
            .collect();
        let buffers = b.create_vector(&buffers);
        let description = b.create_string("kiln differential test case");
        let model = b.start_table();
        b.push_slot::<u32>(slot(0), 3, 0);
        b.push_slot_always::<WIPOffset<_>>(slot(1), codes);
        b.push_slot_always::<WIPOffset<_>>(slot(2), subgraphs);
        b.push_slot_always::<WIPOffset<_>>(slot(3), description);
        b.push_slot_always::<WIPOffset<_>>(slot(4), buffers);
        let model = b.end_table(model);
        b.finish(model, Some("TFL3"));
        b.finished_data().to_vec()
    }
}
