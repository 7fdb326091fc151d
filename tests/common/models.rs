//! The int8 models of `../shared` kiln runs bit-exact (shared by the tests
//! and the generated-code build script).

/// The int8 models kiln must run bit-exact, with their file under `models/`.
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
];
