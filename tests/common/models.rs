//! The quantized models of `../shared` kiln runs bit-exact (shared by the
//! tests and the generated-code build script).

#![allow(dead_code)]

/// The project's op-coverage fixtures: `tests/fixtures/op_zoo/NAME.tflite`
/// with TFLM's outputs in `NAME/` (made by `make_op_zoo.py`, and by
/// `make_stateful.py` for svdf, lstm, lstm_int16, int16_edges and variables (resource
/// variables, int8 and int16), `make_schema_ops.py`
/// for sum, reduce_max, batch_matmul, compare_select, comparisons, logical
/// (LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT and REDUCE_ALL on bools),
/// broadcast_args (int32 shapes, from SHAPE and constants),
/// basic_classifier and basic_classifier_scores (TFLM's BasicClassifier, each
/// of its two outputs),
/// mirror_pad, slices, layout, embedding and embedding_lookup (int32
/// input ids; its float twin too), cumsum, fill and dynamic_update_slice (their
/// float twins too), div (int8: TFLM's integer reciprocal), int16_moves
/// (TFLM's int16 data movement between QUANTIZEs), fully_connected_int16
/// (16x8 with int64 and int32 biases), conv_int16 (16x8 CONV_2D and
/// DEPTHWISE_CONV_2D), pools_int16, max_min_int16, leaky_relu_int16,
/// add_sub_int16, mul_int16, sigmoid_int16, select_int16, relu_int16,
/// quantize_int16 (float32 in), mean_int16, abs_int16, squared_difference_int16,
/// batch_matmul_int16, prelu_int16 (int8 slopes), transpose_conv_int16,
/// softmax_int16, signal_window and signal_fft_auto_scale (TFLM's signal
/// library, plain int16; the shift, its second output, in
/// signal_fft_auto_scale_shift; signal_delay and signal_overlap_add, whose
/// state is the kernel's own; signal_energy, uint32 energies out;
/// signal_filter_bank_log, uint32 channels in; signal_pcan, two uint32
/// inputs; signal_filter_bank_square_root, uint64 channels in;
/// signal_filter_bank, uint64 channels out; signal_rfft and
/// signal_rfft_int32, kissfft's fixed-point real FFTs, and signal_irfft
/// and signal_irfft_int32, their inverses; signal_spectral_subtraction and
/// signal_spectral_subtraction_noise, each one of the op's two outputs, and
/// signal_framer and signal_framer_valid, a framer's frames and its bool,
/// and signal_stacker and signal_stacker_valid, a stacker's (make_stateful.py)),
/// arg_extremes
/// (int32 indices out; its float twin too), in_place_chain (one-input ops
/// kiln runs over their inputs), concat_slices (concatenations kiln plans
/// in place), concat_channels (concatenations along channels that lie over
/// an input), inverted_bottleneck (two MobileNetV2 blocks kiln tiles as
/// chains of three convolutions), resize and resize_bilinear (their float
/// twins too), int8_unary (every int8 value through ABS, ELU and
/// RSQRT), squared_difference, broadcast_to, space_batch, l2_norm,
/// log_softmax, add_n and gather_nd (their float twins too), gather_nd_ids
/// (int32 input index pairs) and
/// integer, whose tensors are plain int32).
pub const OP_ZOO: &[&str] = &[
    "elementwise",
    "reductions",
    "activations",
    "constants",
    "transposed",
    "svdf",
    "lstm",
    "lstm_int16",
    "int16_edges",
    "sum",
    "reduce_max",
    "batch_matmul",
    "compare_select",
    "comparisons",
    "logical",
    "broadcast_args",
    "basic_classifier",
    "basic_classifier_scores",
    "mirror_pad",
    "integer",
    "slices",
    "layout",
    "embedding",
    "arg_extremes",
    "arg_extremes_float",
    "in_place_chain",
    "concat_slices",
    "concat_channels",
    "inverted_bottleneck",
    "resize",
    "resize_bilinear",
    "int8_unary",
    "squared_difference",
    "broadcast_to",
    "space_batch",
    "l2_norm",
    "log_softmax",
    "add_n",
    "gather_nd",
    "gather_nd_ids",
    "variables",
    "embedding_lookup",
    "cumsum",
    "fill",
    "dynamic_update_slice",
    "div",
    "int16_moves",
    "fully_connected_int16",
    "conv_int16",
    "pools_int16",
    "max_min_int16",
    "leaky_relu_int16",
    "add_sub_int16",
    "mul_int16",
    "sigmoid_int16",
    "select_int16",
    "relu_int16",
    "quantize_int16",
    "mean_int16",
    "abs_int16",
    "squared_difference_int16",
    "batch_matmul_int16",
    "prelu_int16",
    "transpose_conv_int16",
    "softmax_int16",
    "signal_window",
    "signal_fft_auto_scale",
    "signal_fft_auto_scale_shift",
    "signal_delay",
    "signal_overlap_add",
    "signal_energy",
    "signal_filter_bank_log",
    "signal_pcan",
    "signal_filter_bank_square_root",
    "signal_filter_bank",
    "signal_rfft",
    "signal_rfft_int32",
    "signal_irfft",
    "signal_irfft_int32",
    "signal_spectral_subtraction",
    "signal_spectral_subtraction_noise",
    "signal_framer",
    "signal_framer_valid",
    "signal_stacker",
    "signal_stacker_valid",
    "audio_front_end",
    "decode",
    "conv_rgb",
    "if",
    "if_nested",
    "while",
    "while_int16",
    "circular_buffer",
];

/// The project's float32 op-coverage fixtures (`make_schema_ops.py`, and
/// `make_stateful.py` for lstm_float and variables_float, `make_keras_rnn.py`
/// for while_rnn_float and while_gru_float, Keras RNNs as WHILE loops): kiln
/// must match TFLM's outputs within float rounding (`floats_close`).
pub const FLOAT_ZOO: &[&str] = &[
    "softmax_parts",
    "batch_matmul_float",
    "compare_select_float",
    "if_float",
    "while_rnn_float",
    "while_gru_float",
    "while_rnn_sequence_float",
    "while_gru_stacked_float",
    "comparisons_float",
    "mirror_pad_float",
    "float_unary",
    "slices_float",
    "layout_float",
    "cast",
    "resize_float",
    "resize_bilinear_float",
    "squared_difference_float",
    "broadcast_to_float",
    "space_batch_float",
    "l2_norm_float",
    "log_softmax_float",
    "add_n_float",
    "gather_nd_float",
    "lstm_float",
    "floor_div_mod",
    "l2_pool",
    "variables_float",
    "embedding_lookup_float",
    "cumsum_float",
    "fill_float",
    "dynamic_update_slice_float",
    "signal_overlap_add_float",
    "signal_rfft_float",
    "signal_irfft_float",
    "detection_postprocess",
    "detection_postprocess_regular",
    "decode_float",
];

/// The quantized models kiln must run bit-exact, with their file under
/// `models/`: int8 (trained_lstm_int8 with an int16 LSTM cell state), and
/// keyword_scrambled, an int8 SVDF stack between int16 input and int32
/// output.
pub const INT8_MODELS: &[(&str, &str)] = &[
    ("kws_ref_model", "mlperf-tiny/kws_ref_model.tflite"),
    ("vww_96_int8", "mlperf-tiny/vww_96_int8.tflite"),
    (
        "pretrainedResnet_quant",
        "mlperf-tiny/pretrainedResnet_quant.tflite",
    ),
    ("ad01_int8", "mlperf-tiny/ad01_int8.tflite"),
    ("str_ww_ref_model", "mlperf-tiny/str_ww_ref_model.tflite"),
    ("hello_world_int8", "tflm/hello_world_int8.tflite"),
    (
        "micro_speech_quantized",
        "tflm/micro_speech_quantized.tflite",
    ),
    ("simple_add_model", "tflm/simple_add_model.tflite"),
    ("keyword_scrambled", "tflm/keyword_scrambled.tflite"),
    ("trained_lstm_int8", "tflm/trained_lstm_int8.tflite"),
];

/// Float32 models, compared with TFLM within a relative tolerance.
pub const FLOAT_MODELS: &[(&str, &str)] = &[
    ("hello_world_float", "tflm/hello_world_float.tflite"),
    ("ad01_fp32", "mlperf-tiny/ad01_fp32.tflite"),
    ("vww_96_float", "mlperf-tiny/vww_96_float.tflite"),
    ("pretrainedResnet", "mlperf-tiny/pretrainedResnet.tflite"),
];

/// Float outputs agree when |got - want| <= 1e-5 + 1e-4 |want|.
pub fn floats_close(got: &[f32], want: &[f32]) -> bool {
    got.len() == want.len()
        && got
            .iter()
            .zip(want)
            .all(|(g, w)| (g - w).abs() <= 1e-5 + 1e-4 * w.abs())
}

/// Little-endian float32 values of a byte buffer of any alignment.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
