//! Plain data that crosses a boundary: op descriptors and kernel params go
//! into postcard model blobs, into generated Rust (as their `Debug` form,
//! which is a valid struct literal) and, on the host, to CUDA C kernels.
//! [`wire_struct!`] defines such a struct once: `#[repr(C)]`, the usual
//! derives, and a [`Wire`] impl that describes its layout field by field
//! and writes a value in C's bytes. From those descriptions the host writes
//! the C declarations the CUDA kernels read, and a test pins the blob format.
//!
//! Layer: bottom of the runtime; plain data, uses only `core`.

/// A scalar field type, as C and Rust name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scalar {
    U8,
    I8,
    Bool,
    U32,
    I32,
    F32,
}

impl Scalar {
    pub const fn c_name(self) -> &'static str {
        match self {
            Scalar::U8 => "unsigned char",
            Scalar::I8 => "signed char",
            Scalar::Bool => "bool",
            Scalar::U32 => "unsigned int",
            Scalar::I32 => "int",
            Scalar::F32 => "float",
        }
    }

    pub const fn rust_name(self) -> &'static str {
        match self {
            Scalar::U8 => "u8",
            Scalar::I8 => "i8",
            Scalar::Bool => "bool",
            Scalar::U32 => "u32",
            Scalar::I32 => "i32",
            Scalar::F32 => "f32",
        }
    }
}

/// One field of a wire struct: its name, byte offset and type.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub name: &'static str,
    pub offset: usize,
    pub ty: fn() -> WireType,
}

/// How a wire type is laid out in memory (`#[repr(C)]`, so C lays it out
/// the same way).
#[derive(Clone, Copy, Debug)]
pub enum WireType {
    Scalar(Scalar),
    Array {
        element: fn() -> WireType,
        len: usize,
    },
    Struct {
        name: &'static str,
        size: usize,
        fields: &'static [Field],
    },
    /// A field-less enum stored as a `u32` (`#[repr(u32)]`).
    Enum {
        name: &'static str,
        variants: &'static [(&'static str, u32)],
    },
}

impl WireType {
    /// The type's name as Rust writes it (`u32`, `[Span; 8]`, `Conv2dOp`).
    pub fn write_name(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        match self {
            WireType::Scalar(s) => out.write_str(s.rust_name()),
            WireType::Array { element, len } => {
                out.write_char('[')?;
                element().write_name(out)?;
                write!(out, "; {len}]")
            }
            WireType::Struct { name, .. } | WireType::Enum { name, .. } => out.write_str(name),
        }
    }

    /// The layout as text, one line per field, nested fields indented
    /// (enums list their variants): what the blob format test pins.
    pub fn write_layout(&self, out: &mut dyn core::fmt::Write, indent: usize) -> core::fmt::Result {
        match self {
            WireType::Struct { size, fields, .. } => {
                writeln!(out, "{:indent$}size {size}", "", indent = indent * 2)?;
                for f in *fields {
                    let ty = (f.ty)();
                    write!(
                        out,
                        "{:indent$}{} @{}: ",
                        "",
                        f.name,
                        f.offset,
                        indent = indent * 2
                    )?;
                    ty.write_name(out)?;
                    out.write_char('\n')?;
                    let mut inner = ty;
                    while let WireType::Array { element, .. } = inner {
                        inner = element();
                    }
                    inner.write_layout(out, indent + 1)?;
                }
                Ok(())
            }
            WireType::Enum { variants, .. } => {
                for (name, value) in *variants {
                    writeln!(out, "{:indent$}{name} = {value}", "", indent = indent * 2)?;
                }
                Ok(())
            }
            WireType::Scalar(_) | WireType::Array { .. } => Ok(()),
        }
    }
}

/// A type with a C layout that kiln can describe and write.
pub trait Wire {
    fn wire_type() -> WireType;
    /// Writes the value as C lays it out into the first `size_of::<Self>()`
    /// bytes of `out` (little-endian, padding left as it is).
    fn write_c(&self, out: &mut [u8]);
}

macro_rules! wire_scalar {
    ($($t:ty => $s:ident),*) => {$(
        impl Wire for $t {
            fn wire_type() -> WireType {
                WireType::Scalar(Scalar::$s)
            }
            fn write_c(&self, out: &mut [u8]) {
                let bytes = self.to_le_bytes();
                out[..bytes.len()].copy_from_slice(&bytes);
            }
        }
    )*};
}
wire_scalar!(u8 => U8, i8 => I8, u32 => U32, i32 => I32, f32 => F32);

impl Wire for bool {
    fn wire_type() -> WireType {
        WireType::Scalar(Scalar::Bool)
    }
    fn write_c(&self, out: &mut [u8]) {
        out[0] = u8::from(*self);
    }
}

impl<T: Wire, const N: usize> Wire for [T; N] {
    fn wire_type() -> WireType {
        WireType::Array {
            element: T::wire_type,
            len: N,
        }
    }
    fn write_c(&self, out: &mut [u8]) {
        let size = core::mem::size_of::<T>();
        for (i, v) in self.iter().enumerate() {
            v.write_c(&mut out[i * size..]);
        }
    }
}

/// Defines a plain-data struct that crosses a boundary (see the module
/// docs): `#[repr(C)]`, `Clone`, `Copy`, `Debug`, `PartialEq`, `Default`,
/// serde with the `serde` feature, and a [`Wire`] impl. Every field is
/// `pub`; doc comments on the struct and its fields are kept.
macro_rules! wire_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(Clone, Copy, Debug, PartialEq, Default)]
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty ),*
        }

        impl $crate::wire::Wire for $name {
            fn wire_type() -> $crate::wire::WireType {
                const FIELDS: &[$crate::wire::Field] = &[$($crate::wire::Field {
                    name: stringify!($field),
                    offset: core::mem::offset_of!($name, $field),
                    ty: <$ty as $crate::wire::Wire>::wire_type,
                }),*];
                $crate::wire::WireType::Struct {
                    name: stringify!($name),
                    size: core::mem::size_of::<$name>(),
                    fields: FIELDS,
                }
            }
            fn write_c(&self, out: &mut [u8]) {
                $( $crate::wire::Wire::write_c(
                    &self.$field,
                    &mut out[core::mem::offset_of!($name, $field)..],
                ); )*
            }
        }
    };
}
pub(crate) use wire_struct;

/// Defines a field-less enum that crosses a boundary: `#[repr(u32)]` with
/// explicit discriminants (C reads it as an `unsigned int`), `Default` (mark
/// one variant `#[default]`), serde with the `serde` feature, and a [`Wire`]
/// impl. Its `Debug` form is the path `Name::Variant`, so that generated
/// Rust names it unambiguously.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$variant_meta:meta])* $variant:ident = $value:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(u32)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
        #[derive(Clone, Copy, PartialEq, Eq, Default)]
        pub enum $name {
            $( $(#[$variant_meta])* $variant = $value ),*
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(match self {
                    $( $name::$variant => concat!(stringify!($name), "::", stringify!($variant)) ),*
                })
            }
        }

        impl $crate::wire::Wire for $name {
            fn wire_type() -> $crate::wire::WireType {
                $crate::wire::WireType::Enum {
                    name: stringify!($name),
                    variants: &[$( (stringify!($variant), $value) ),*],
                }
            }
            fn write_c(&self, out: &mut [u8]) {
                $crate::wire::Wire::write_c(&(*self as u32), out);
            }
        }
    };
}
pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    use super::*;

    wire_struct! {
        /// A test struct with padding after `flag`.
        pub struct Sample {
            pub flag: bool,
            pub values: [i32; 2],
            pub scale: f32,
        }
    }

    #[test]
    fn describes_fields_at_their_offsets() {
        let WireType::Struct { name, size, fields } = Sample::wire_type() else {
            panic!("not a struct");
        };
        assert_eq!((name, size), ("Sample", 16));
        let names: Vec<_> = fields.iter().map(|f| (f.name, f.offset)).collect();
        assert_eq!(names, [("flag", 0), ("values", 4), ("scale", 12)]);
        assert!(matches!((fields[1].ty)(), WireType::Array { len: 2, .. }));
    }

    #[test]
    fn writes_c_bytes_with_padding_untouched() {
        let s = Sample {
            flag: true,
            values: [1, -2],
            scale: 1.5,
        };
        let mut out = [0xAAu8; 16];
        s.write_c(&mut out);
        assert_eq!(out[0], 1);
        assert_eq!(out[1..4], [0xAA; 3]);
        assert_eq!(out[4..8], 1i32.to_le_bytes());
        assert_eq!(out[8..12], (-2i32).to_le_bytes());
        assert_eq!(out[12..16], 1.5f32.to_le_bytes());
    }
}
