//! A TFLite custom operator's options (TFLM's signal library, the
//! detection post-process): the FlexBuffer map its kernel reads, and its
//! values as TFLM's `AsInt32`, `AsFloat` and `IsNull` read them.
//!
//! Layer: importer; uses `flexbuffer`.

use super::super::flexbuffer;
use super::{invalid, ReadResult, TfliteOp};

impl TfliteOp<'_> {
    /// A custom operator's options: the FlexBuffer map TFLM's kernels read.
    pub fn custom_options(&self) -> ReadResult<flexbuffer::Map<'_>> {
        if self.custom_format != 0 {
            return invalid(format!(
                "custom options in format {}, not FLEXBUFFERS",
                self.custom_format
            ));
        }
        flexbuffer::Map::root(self.custom_options)
            .or_else(|e| invalid(format!("custom options: {e}")))
    }

    /// Whether the custom operator has options at all.
    pub fn custom_options_given(&self) -> bool {
        !self.custom_options.is_empty()
    }

    /// Integer option `key` of a custom operator, which must be present.
    pub fn custom_int(&self, key: &str) -> ReadResult<i64> {
        let map = self.custom_options()?;
        match map.get(key) {
            Ok(Some(v)) => match v.as_i64() {
                Some(v) => Ok(v),
                None => invalid(format!("custom option '{key}' is {v:?}, not an integer")),
            },
            Ok(None) => invalid(format!(
                "custom option '{key}' is missing (the options hold {:?})",
                map.keys().unwrap_or_default()
            )),
            Err(e) => invalid(format!("custom option '{key}': {e}")),
        }
    }

    /// Number option `key` of a custom operator, which must be present: a
    /// float, or an integer (FlexBuffers' `AsFloat` converts either).
    pub fn custom_f32(&self, key: &str) -> ReadResult<f32> {
        let map = self.custom_options()?;
        match map.get(key) {
            Ok(Some(flexbuffer::Value::Float(v))) => Ok(v as f32),
            Ok(Some(v)) => match v.as_i64() {
                Some(v) => Ok(v as f32),
                None => invalid(format!("custom option '{key}' is {v:?}, not a number")),
            },
            Ok(None) => invalid(format!(
                "custom option '{key}' is missing (the options hold {:?})",
                map.keys().unwrap_or_default()
            )),
            Err(e) => invalid(format!("custom option '{key}': {e}")),
        }
    }

    /// Integer option `key` of a custom operator, or `default` where it is
    /// absent or null (TFLM's `IsNull` test before reading one).
    pub fn custom_int_or(&self, key: &str, default: i64) -> ReadResult<i64> {
        match self.custom_options()?.get(key) {
            Ok(None | Some(flexbuffer::Value::Null)) => Ok(default),
            _ => self.custom_int(key),
        }
    }
}
