//! The parsed definition file: what the user wrote, with locations, before any semantic check.

use crate::diagnostic::Loc;

/// A name as written (without any `r#` prefix) and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Name {
    /// The identifier text, unraw (`r#type` is stored as `type`).
    pub text: String,
    /// Where the identifier is.
    pub loc: Loc,
}

/// A whole `.rpc.rs` file.
#[derive(Clone, Debug, Default)]
pub struct File {
    /// `#![rpcnet(package = "...")]`, if present.
    pub package: Option<(String, Loc)>,
    /// Inner doc comments (`//!`), one entry per line.
    pub docs: Vec<String>,
    /// Structs and enums in source order.
    pub types: Vec<TypeDef>,
    /// Traits marked `#[rpcnet::service]`, in source order.
    pub services: Vec<Service>,
}

/// A struct or enum.
#[derive(Clone, Debug)]
pub struct TypeDef {
    /// The type name.
    pub name: Name,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// What kind of type it is.
    pub kind: TypeDefKind,
}

/// The three kinds of type definitions.
#[derive(Clone, Debug)]
pub enum TypeDefKind {
    /// A struct with named fields (a unit struct has none): a protobuf message.
    Struct(Vec<Field>),
    /// An enum whose variants carry nothing: a protobuf enum.
    Enum(Vec<EnumValue>),
    /// An enum whose variants each carry one value: a protobuf `oneof`.
    Oneof(Vec<Variant>),
}

/// A message field.
#[derive(Clone, Debug)]
pub struct Field {
    /// The field name.
    pub name: Name,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// The field type as written.
    pub ty: Ty,
    /// The number pinned with `#[rpcnet(tag = N)]`, if any.
    pub tag: Option<(u64, Loc)>,
}

/// A variant of a C-like enum.
#[derive(Clone, Debug)]
pub struct EnumValue {
    /// The variant name.
    pub name: Name,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// The discriminant written as `= N`, if any.
    pub value: Option<(i64, Loc)>,
}

/// A variant of a data-carrying enum (a oneof member).
#[derive(Clone, Debug)]
pub struct Variant {
    /// The variant name.
    pub name: Name,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// The one value it carries.
    pub ty: Ty,
    /// The number pinned with `#[rpcnet(tag = N)]`, if any.
    pub tag: Option<(u64, Loc)>,
}

/// A type expression, restricted to the shapes the generator understands. Anything else is
/// rejected while parsing.
#[derive(Clone, Debug)]
pub enum Ty {
    /// A scalar: `String`, `Vec<u8>`, `bool`, `i32`, ...
    Scalar(Scalar, Loc),
    /// A bare name, resolved later against the file's types.
    Named(Name),
    /// `Option<T>`.
    Option(Box<Ty>, Loc),
    /// `Vec<T>` (other than `Vec<u8>`).
    Vec(Box<Ty>, Loc),
    /// `HashMap<K, V>`.
    Map(Box<Ty>, Box<Ty>, Loc),
    /// `Box<T>`.
    Boxed(Box<Ty>, Loc),
    /// `Streaming<T>`.
    Streaming(Box<Ty>, Loc),
}

impl Ty {
    /// Where the whole type expression is.
    pub fn loc(&self) -> Loc {
        match self {
            Ty::Scalar(_, loc)
            | Ty::Option(_, loc)
            | Ty::Vec(_, loc)
            | Ty::Map(_, _, loc)
            | Ty::Boxed(_, loc)
            | Ty::Streaming(_, loc) => *loc,
            Ty::Named(name) => name.loc,
        }
    }
}

/// The scalar types a field can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scalar {
    /// `String` / `string`.
    String,
    /// `Vec<u8>` / `bytes`.
    Bytes,
    /// `bool`.
    Bool,
    /// `i32` / `int32`.
    I32,
    /// `i64` / `int64`.
    I64,
    /// `u32` / `uint32`.
    U32,
    /// `u64` / `uint64`.
    U64,
    /// `f32` / `float`.
    F32,
    /// `f64` / `double`.
    F64,
}

/// A service trait.
#[derive(Clone, Debug)]
pub struct Service {
    /// The trait name.
    pub name: Name,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// Its methods in source order.
    pub methods: Vec<Method>,
}

/// One `async fn name(&self, request: Req) -> Result<Resp, Status>`.
#[derive(Clone, Debug)]
pub struct Method {
    /// The method name.
    pub name: Name,
    /// Doc comment lines.
    pub docs: Vec<String>,
    /// The request parameter's type (`Req` or `Streaming<Req>`).
    pub request: Ty,
    /// The `Ok` type of the result (`Resp` or `Streaming<Resp>`).
    pub response: Ty,
}
