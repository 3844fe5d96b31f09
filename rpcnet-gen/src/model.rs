//! The checked schema: plain data with every name resolved and every field numbered, ready to emit.
//!
//! Nothing here can be invalid: the checker only builds a [`Schema`] from a file without errors,
//! so the emitters never need to report anything.

use crate::ast::Scalar;

/// Everything one input file defines.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    /// The input path as given, with `/` separators (for the `@generated` line).
    pub source: String,
    /// The protobuf package, used in wire paths (`/<package>.<Service>/<Method>`).
    pub package: String,
    /// The Rust module (and `.proto` file stem) for this file.
    pub module: String,
    /// The file's inner doc comment lines.
    pub docs: Vec<String>,
    /// Messages and enums in source order (oneofs live inside their message).
    pub types: Vec<TypeDef>,
    /// Services in source order.
    pub services: Vec<Service>,
}

/// A top-level type.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeDef {
    /// A protobuf message.
    Message(Message),
    /// A protobuf enum.
    Enum(Enum),
}

/// A protobuf message (a Rust struct).
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The type name.
    pub name: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
}

/// One message field.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The field name (unraw).
    pub name: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Type and number(s).
    pub kind: FieldKind,
}

/// How a field is represented.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldKind {
    /// A single, optional or repeated value.
    Value {
        /// The element type.
        ty: ValueType,
        /// Cardinality.
        label: Label,
        /// Field number.
        tag: u32,
    },
    /// `HashMap<String, V>`.
    Map {
        /// The value type.
        value: ValueType,
        /// Field number.
        tag: u32,
    },
    /// A data-carrying enum: a protobuf `oneof` named after the field.
    Oneof(Oneof),
}

/// Cardinality of a value field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Label {
    /// `T`: a scalar or enum with proto3 default semantics, or a message that is always present.
    Single,
    /// `Option<T>`: explicit presence.
    Optional,
    /// `Vec<T>`: repeated.
    Repeated,
}

/// The type of one value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// A scalar.
    Scalar(Scalar),
    /// A message of this file.
    Message {
        /// Its name.
        name: String,
        /// Written as `Box<T>` (inside `Option` or a oneof variant).
        boxed: bool,
    },
    /// A C-like enum of this file.
    Enum(String),
}

/// A oneof: the data-carrying enum a field refers to.
#[derive(Clone, Debug, PartialEq)]
pub struct Oneof {
    /// The enum's type name.
    pub name: String,
    /// The enum's doc comment lines.
    pub docs: Vec<String>,
    /// Its variants, each a protobuf field of the containing message.
    pub variants: Vec<Variant>,
}

/// One oneof member.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// The variant name (UpperCamel).
    pub name: String,
    /// Its protobuf field name (snake case).
    pub proto_name: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// The value it carries.
    pub ty: ValueType,
    /// Field number.
    pub tag: u32,
}

/// A protobuf enum (a C-like Rust enum).
#[derive(Clone, Debug, PartialEq)]
pub struct Enum {
    /// The type name.
    pub name: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Variants in declaration order; the first has number 0.
    pub values: Vec<EnumValue>,
}

/// One enum variant.
#[derive(Clone, Debug, PartialEq)]
pub struct EnumValue {
    /// The Rust variant name.
    pub name: String,
    /// The protobuf value name (`KIND_TEXT_ONLY`).
    pub proto_name: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// The number.
    pub number: i32,
}

/// A service.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// The trait name (UpperCamel).
    pub name: String,
    /// The protobuf service name, used in wire paths: the trait name for `.rpc.rs` input, the
    /// name as written for `.proto` input (whose trait name is its UpperCamel form).
    pub wire_name: String,
    /// The module its stubs live in (the name in lowercase).
    pub module: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Methods in source order.
    pub methods: Vec<Method>,
}

/// One RPC.
#[derive(Clone, Debug, PartialEq)]
pub struct Method {
    /// The Rust method name (unraw).
    pub name: String,
    /// The wire name (UpperCamel).
    pub wire_name: String,
    /// The path constant's name (`GENERATE_PATH`).
    pub path_const: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Request message: its name, or for a nested `.proto` message its path relative to the
    /// messages module (`outer::Inner`).
    pub request: String,
    /// Response message, named like [`request`](Method::request).
    pub response: String,
    /// The client sends a stream.
    pub client_streaming: bool,
    /// The server sends a stream.
    pub server_streaming: bool,
}

impl Schema {
    /// The service's fully qualified protobuf name, `<package>.<Service>` (just `<Service>` for
    /// a `.proto` file without a package).
    pub fn qualified_name(&self, service: &Service) -> String {
        if self.package.is_empty() {
            service.wire_name.clone()
        } else {
            format!("{}.{}", self.package, service.wire_name)
        }
    }

    /// The wire path of a method, `/<package>.<Service>/<Method>`.
    pub fn method_path(&self, service: &Service, method: &Method) -> String {
        format!("/{}/{}", self.qualified_name(service), method.wire_name)
    }
}
