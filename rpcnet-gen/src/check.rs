//! Semantic checks: resolves names, numbers fields, and turns a valid ast into a [`Schema`].
//!
//! Every rule a definition must follow beyond syntax lives here, each reported with the location
//! of the construct that breaks it. The checker keeps going after an error where it can, so one
//! run lists as many problems as possible.

use std::collections::{BTreeMap, HashMap};

use crate::ast::{self, Name, Scalar, Ty, TypeDefKind};
use crate::diagnostic::{Diagnostic, Loc};
use crate::model::{self, FieldKind, Label, Schema, ValueType};
use crate::names;

/// Largest protobuf field number (2^29 - 1).
pub const MAX_TAG: u64 = 536_870_911;
/// Field numbers protobuf reserves for its own implementation.
pub const RESERVED_TAGS: std::ops::RangeInclusive<u64> = 19_000..=19_999;

/// What the checker needs besides the parsed file.
#[derive(Clone, Debug)]
pub struct Options {
    /// The input path as given, with `/` separators.
    pub source: String,
    /// The input file's stem (`connection_swap` for `connection_swap.rpc.rs`).
    pub stem: String,
    /// A package given on the command line or in [`crate::Config`]; wins over the file's.
    pub package: Option<String>,
}

/// Checks `file` and builds its schema, or returns every problem found (sorted by location).
pub fn check(file: &ast::File, options: &Options) -> Result<Schema, Vec<Diagnostic>> {
    let mut checker = Checker::new(file);
    let schema = checker.run(options);
    let mut diags = checker.diags;
    if diags.is_empty() {
        Ok(schema)
    } else {
        diags.sort_by_key(|d| d.loc);
        diags.dedup();
        Err(diags)
    }
}

/// What a type name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Message,
    Enum,
    Oneof,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Message => "a message",
            Kind::Enum => "an enum",
            Kind::Oneof => "a oneof (an enum that carries data)",
        }
    }
}

struct Checker<'a> {
    file: &'a ast::File,
    diags: Vec<Diagnostic>,
    /// Type name -> (kind, index into `file.types`).
    types: HashMap<&'a str, (Kind, usize)>,
    /// Oneof name -> the message field that uses it, for the one-use rule.
    oneof_uses: HashMap<String, String>,
}

impl<'a> Checker<'a> {
    fn new(file: &'a ast::File) -> Self {
        Checker {
            file,
            diags: Vec::new(),
            types: HashMap::new(),
            oneof_uses: HashMap::new(),
        }
    }

    fn error(&mut self, loc: Loc, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(loc, message));
    }

    fn run(&mut self, options: &Options) -> Schema {
        let module = self.module(options);
        let package = self.package(options, &module);
        self.declare_types();
        let mut types = Vec::new();
        for def in &self.file.types {
            match &def.kind {
                TypeDefKind::Struct(fields) => {
                    types.push(model::TypeDef::Message(self.message(def, fields)));
                }
                TypeDefKind::Enum(values) => {
                    types.push(model::TypeDef::Enum(self.enumeration(def, values)));
                }
                // A oneof is emitted inside the message that uses it.
                TypeDefKind::Oneof(_) => {}
            }
        }
        self.unused_oneofs();
        self.enum_value_scope(&types);
        self.cycles(&types);
        let services = self.services();
        Schema {
            source: options.source.clone(),
            package,
            module,
            docs: self.file.docs.clone(),
            types,
            services,
        }
    }

    fn module(&mut self, options: &Options) -> String {
        let module = names::file_module_name(&options.stem);
        if !names::is_ascii_identifier(&module) || names::is_unmappable_keyword(&module) {
            self.error(
                Loc::file_start(),
                format!(
                    "the file name gives module name `{module}`, which is not a valid \
                     identifier; rename the file (like `my_api.rpc.rs`)"
                ),
            );
        }
        module
    }

    fn package(&mut self, options: &Options, module: &str) -> String {
        let (package, loc, origin) = match (&options.package, &self.file.package) {
            (Some(p), _) => (p.clone(), Loc::file_start(), " (given to rpcnet-gen)"),
            (None, Some((p, loc))) => (p.clone(), *loc, ""),
            (None, None) => (
                module.to_string(),
                Loc::file_start(),
                " (from the file name)",
            ),
        };
        let valid = !package.is_empty() && package.split('.').all(names::is_ascii_identifier);
        if !valid {
            self.error(
                loc,
                format!(
                    "invalid package `{package}`{origin}: use dot-separated identifiers of \
                     ASCII letters, digits and `_`, like `connection_swap` or `acme.v1`"
                ),
            );
        }
        package
    }

    /// Registers every type name, rejecting duplicates and names that cannot be used.
    fn declare_types(&mut self) {
        let file = self.file;
        let mut first: HashMap<&str, Loc> = HashMap::new();
        for (index, def) in file.types.iter().enumerate() {
            let kind = match def.kind {
                TypeDefKind::Struct(_) => Kind::Message,
                TypeDefKind::Enum(_) => Kind::Enum,
                TypeDefKind::Oneof(_) => Kind::Oneof,
            };
            self.type_name(&def.name, "type");
            if let Some(loc) = first.get(def.name.text.as_str()) {
                let line = loc.line;
                self.error(
                    def.name.loc,
                    format!(
                        "duplicate type name `{}` (first defined on line {line})",
                        def.name.text
                    ),
                );
                continue;
            }
            first.insert(&def.name.text, def.name.loc);
            self.types.insert(&def.name.text, (kind, index));
        }
    }

    /// Rules for message, enum, oneof and service names.
    fn type_name(&mut self, name: &Name, what: &str) {
        let text = &name.text;
        if !names::is_ascii_identifier(text) || !text.starts_with(|c: char| c.is_ascii_uppercase())
        {
            self.error(
                name.loc,
                format!(
                    "{what} name `{text}` must start with an ASCII capital letter and contain \
                     only ASCII letters, digits and `_` (protobuf names are ASCII)"
                ),
            );
        } else if names::RESERVED_TYPE_NAMES.contains(&text.as_str()) {
            self.error(
                name.loc,
                format!(
                    "`{text}` is reserved: generated code and service signatures use it for \
                     the standard or rpcnet type of that name; choose another {what} name"
                ),
            );
        }
    }

    /// Rules for field and method names.
    fn member_name(&mut self, name: &Name, what: &str) {
        let text = &name.text;
        if !names::is_ascii_identifier(text) {
            self.error(
                name.loc,
                format!(
                    "{what} name `{text}` must start with an ASCII letter and contain only \
                     ASCII letters, digits and `_` (protobuf names are ASCII)"
                ),
            );
        } else if names::is_unmappable_keyword(text) {
            self.error(
                name.loc,
                format!("`{text}` is a Rust keyword that no {what} can be named"),
            );
        }
    }

    /// Rules for enum and oneof variant names.
    fn variant_name(&mut self, name: &Name) {
        let text = &name.text;
        if !names::is_ascii_identifier(text) || !text.starts_with(|c: char| c.is_ascii_uppercase())
        {
            self.error(
                name.loc,
                format!(
                    "variant name `{text}` must start with an ASCII capital letter and contain \
                     only ASCII letters, digits and `_`"
                ),
            );
        }
    }

    fn lookup(&self, name: &str) -> Option<Kind> {
        self.types.get(name).map(|(kind, _)| *kind)
    }

    fn unknown_type(&mut self, name: &Name) {
        let text = &name.text;
        let message = match text.as_str() {
            "Status" => "`Status` is only allowed as the error type of a service method".into(),
            _ => format!("unknown type `{text}`: define it as a struct or enum in this file"),
        };
        self.error(name.loc, message);
    }

    fn message(&mut self, def: &ast::TypeDef, fields: &[ast::Field]) -> model::Message {
        let mut out = Vec::new();
        let mut numbering = Numbering::new(&def.name.text);
        // Protobuf names in the message scope (fields, oneofs and oneof members), by JSON name.
        let mut scope: HashMap<String, (String, Loc)> = HashMap::new();
        let mut seen: HashMap<&str, Loc> = HashMap::new();
        for field in fields {
            self.member_name(&field.name, "field");
            if let Some(first) = seen.get(field.name.text.as_str()) {
                let line = first.line;
                self.error(
                    field.name.loc,
                    format!(
                        "duplicate field `{}` in message `{}` (first on line {line})",
                        field.name.text, def.name.text
                    ),
                );
                continue;
            }
            seen.insert(&field.name.text, field.name.loc);
            self.proto_scope(&mut scope, &field.name.text, field.name.loc, &def.name.text);
            let Some(kind) = self.field_kind(def, field, &mut numbering, &mut scope) else {
                continue;
            };
            out.push(model::Field {
                name: field.name.text.clone(),
                docs: field.docs.clone(),
                kind,
            });
        }
        self.diags.append(&mut numbering.diags);
        model::Message {
            name: def.name.text.clone(),
            docs: def.docs.clone(),
            fields: out,
        }
    }

    /// Records a protobuf name in a message's scope, reporting names that clash once protobuf
    /// folds them into JSON names (`foo_bar` and `fooBar`).
    fn proto_scope(
        &mut self,
        scope: &mut HashMap<String, (String, Loc)>,
        name: &str,
        loc: Loc,
        message: &str,
    ) {
        let key = names::proto_json_name(name);
        if let Some((other, first)) = scope.get(&key) {
            if other != name {
                let line = first.line;
                self.error(
                    loc,
                    format!(
                        "`{name}` collides with `{other}` (line {line}) in message `{message}`: \
                         protobuf gives both the JSON name `{key}`"
                    ),
                );
            } else {
                let line = first.line;
                self.error(
                    loc,
                    format!(
                        "protobuf field name `{name}` is used twice in message `{message}` \
                         (first on line {line})"
                    ),
                );
            }
            return;
        }
        scope.insert(key, (name.to_string(), loc));
    }

    fn field_kind(
        &mut self,
        def: &ast::TypeDef,
        field: &ast::Field,
        numbering: &mut Numbering,
        scope: &mut HashMap<String, (String, Loc)>,
    ) -> Option<FieldKind> {
        let value = |checker: &mut Self, ty: &Ty| checker.element(ty, "a field");
        let shape = match &field.ty {
            Ty::Option(inner, _) => match &**inner {
                Ty::Boxed(boxed, _) => match self.boxed_message(boxed) {
                    Some(name) => {
                        Shape::Value(ValueType::Message { name, boxed: true }, Label::Optional)
                    }
                    None => return None,
                },
                Ty::Named(n) if self.lookup(&n.text) == Some(Kind::Oneof) => {
                    Shape::Oneof(n.clone())
                }
                Ty::Option(..) => {
                    self.error(inner.loc(), "nested `Option` is not supported");
                    return None;
                }
                Ty::Vec(..) | Ty::Map(..) => {
                    self.error(
                        field.ty.loc(),
                        "`Option` around a `Vec` or `HashMap` is not supported: an empty \
                         collection already means absent",
                    );
                    return None;
                }
                other => Shape::Value(value(self, other)?, Label::Optional),
            },
            Ty::Vec(inner, _) => match &**inner {
                Ty::Named(n) if self.lookup(&n.text) == Some(Kind::Oneof) => {
                    // Count the use, so the oneof is not also reported as unused.
                    self.oneof_uses
                        .entry(n.text.clone())
                        .or_insert_with(|| format!("{}.{}", def.name.text, field.name.text));
                    self.error(
                        n.loc,
                        format!(
                            "a oneof cannot be repeated: wrap `{}` in a message and use \
                             `Vec` of that message",
                            n.text
                        ),
                    );
                    return None;
                }
                Ty::Option(..) | Ty::Vec(..) | Ty::Map(..) | Ty::Boxed(..) => {
                    self.error(
                        inner.loc(),
                        "a `Vec` element must be a scalar, message or enum (protobuf has no \
                         nested repeated fields): wrap the inner type in a message",
                    );
                    return None;
                }
                other => Shape::Value(value(self, other)?, Label::Repeated),
            },
            Ty::Map(key, val, _) => {
                let key_ok = matches!(&**key, Ty::Scalar(Scalar::String, _));
                if !key_ok {
                    self.error(key.loc(), "map keys must be `String`");
                }
                let val = match &**val {
                    Ty::Named(n) if self.lookup(&n.text) == Some(Kind::Oneof) => {
                        self.error(n.loc, "a map value cannot be a oneof: wrap it in a message");
                        return None;
                    }
                    Ty::Option(..) | Ty::Vec(..) | Ty::Map(..) | Ty::Boxed(..) => {
                        self.error(
                            val.loc(),
                            "a map value must be a scalar, message or enum: wrap the inner \
                             type in a message",
                        );
                        return None;
                    }
                    other => value(self, other)?,
                };
                if !key_ok {
                    return None;
                }
                Shape::Map(val)
            }
            Ty::Named(n) if self.lookup(&n.text) == Some(Kind::Oneof) => Shape::Oneof(n.clone()),
            Ty::Boxed(..) => {
                self.error(
                    field.ty.loc(),
                    "`Box<T>` is supported only as `Option<Box<T>>` around a message",
                );
                return None;
            }
            other => Shape::Value(value(self, other)?, Label::Single),
        };
        match shape {
            Shape::Value(ty, label) => Some(FieldKind::Value {
                ty,
                label,
                tag: numbering.assign(field.tag, &field.name),
            }),
            Shape::Map(value) => Some(FieldKind::Map {
                value,
                tag: numbering.assign(field.tag, &field.name),
            }),
            Shape::Oneof(name) => {
                if let Some((_, loc)) = field.tag {
                    self.error(
                        loc,
                        format!(
                            "a oneof field has no number of its own: pin the variants of `{}` \
                             with `#[rpcnet(tag = N)]` instead",
                            name.text
                        ),
                    );
                }
                self.oneof(def, field, &name, numbering, scope)
                    .map(FieldKind::Oneof)
            }
        }
    }

    /// Resolves a single value (a field element, map value or oneof member).
    fn element(&mut self, ty: &Ty, place: &str) -> Option<ValueType> {
        match ty {
            Ty::Scalar(s, _) => Some(ValueType::Scalar(*s)),
            Ty::Named(n) => match self.lookup(&n.text) {
                Some(Kind::Message) => Some(ValueType::Message {
                    name: n.text.clone(),
                    boxed: false,
                }),
                Some(Kind::Enum) => Some(ValueType::Enum(n.text.clone())),
                Some(Kind::Oneof) => {
                    self.error(
                        n.loc,
                        format!("a oneof cannot be used in {place}: wrap it in a message"),
                    );
                    None
                }
                None => {
                    self.unknown_type(n);
                    None
                }
            },
            Ty::Streaming(_, loc) => {
                self.error(
                    *loc,
                    "`Streaming<T>` is misplaced: it may only be the whole request type or the \
                     whole response type of a service method",
                );
                None
            }
            Ty::Boxed(..) => {
                self.error(
                    ty.loc(),
                    "`Box<T>` is supported only as `Option<Box<T>>` around a message or as a \
                     oneof variant's value",
                );
                None
            }
            Ty::Option(..) | Ty::Vec(..) | Ty::Map(..) => {
                self.error(
                    ty.loc(),
                    format!(
                        "`Option`, `Vec` and `HashMap` cannot be used in {place}: wrap the value \
                         in a message"
                    ),
                );
                None
            }
        }
    }

    fn boxed_message(&mut self, inner: &Ty) -> Option<String> {
        match inner {
            Ty::Named(n) if self.lookup(&n.text) == Some(Kind::Message) => Some(n.text.clone()),
            Ty::Named(n) if self.lookup(&n.text).is_none() => {
                self.unknown_type(n);
                None
            }
            _ => {
                self.error(
                    inner.loc(),
                    "`Box<T>` is supported only around a message of this file",
                );
                None
            }
        }
    }

    fn oneof(
        &mut self,
        message: &ast::TypeDef,
        field: &ast::Field,
        name: &Name,
        numbering: &mut Numbering,
        scope: &mut HashMap<String, (String, Loc)>,
    ) -> Option<model::Oneof> {
        let user = format!("{}.{}", message.name.text, field.name.text);
        if let Some(previous) = self.oneof_uses.get(&name.text) {
            let previous = previous.clone();
            self.error(
                name.loc,
                format!(
                    "oneof `{}` is already used by field `{previous}`: a protobuf oneof belongs \
                     to exactly one message field",
                    name.text
                ),
            );
            return None;
        }
        self.oneof_uses.insert(name.text.clone(), user);
        let (_, index) = *self.types.get(name.text.as_str())?;
        let def = &self.file.types[index];
        let TypeDefKind::Oneof(variants) = &def.kind else {
            return None;
        };
        let mut out = Vec::new();
        let mut seen: HashMap<&str, Loc> = HashMap::new();
        for variant in variants {
            self.variant_name(&variant.name);
            if let Some(first) = seen.get(variant.name.text.as_str()) {
                let line = first.line;
                self.error(
                    variant.name.loc,
                    format!(
                        "duplicate variant `{}` in `{}` (first on line {line})",
                        variant.name.text, def.name.text
                    ),
                );
                continue;
            }
            seen.insert(&variant.name.text, variant.name.loc);
            let proto_name = names::proto_oneof_field_name(&variant.name.text);
            self.proto_scope(scope, &proto_name, variant.name.loc, &message.name.text);
            let ty = match &variant.ty {
                Ty::Boxed(inner, _) => self
                    .boxed_message(inner)
                    .map(|name| ValueType::Message { name, boxed: true }),
                other => self.element(other, "a oneof variant"),
            };
            let tag = numbering.assign(variant.tag, &variant.name);
            if let Some(ty) = ty {
                out.push(model::Variant {
                    name: variant.name.text.clone(),
                    proto_name,
                    docs: variant.docs.clone(),
                    ty,
                    tag,
                });
            }
        }
        Some(model::Oneof {
            name: def.name.text.clone(),
            docs: def.docs.clone(),
            variants: out,
        })
    }

    fn unused_oneofs(&mut self) {
        let file = self.file;
        for def in &file.types {
            if matches!(def.kind, TypeDefKind::Oneof(_))
                && !self.oneof_uses.contains_key(&def.name.text)
                && self.types.get(def.name.text.as_str()).map(|t| t.0) == Some(Kind::Oneof)
            {
                self.error(
                    def.name.loc,
                    format!(
                        "enum `{}` carries data, so it is a protobuf oneof, but no message field \
                         uses it; a oneof exists only inside one message",
                        def.name.text
                    ),
                );
            }
        }
    }

    fn enumeration(&mut self, def: &ast::TypeDef, values: &[ast::EnumValue]) -> model::Enum {
        if values.is_empty() {
            self.error(
                def.name.loc,
                format!(
                    "enum `{}` has no variants; a protobuf enum needs at least one",
                    def.name.text
                ),
            );
        }
        let mut out = Vec::new();
        let mut next: i64 = 0;
        let mut names_seen: HashMap<&str, Loc> = HashMap::new();
        let mut numbers: HashMap<i64, &str> = HashMap::new();
        for (i, value) in values.iter().enumerate() {
            self.variant_name(&value.name);
            let (number, loc) = value.value.unwrap_or((next, value.name.loc));
            next = number.saturating_add(1);
            if let Some(first) = names_seen.get(value.name.text.as_str()) {
                let line = first.line;
                self.error(
                    value.name.loc,
                    format!(
                        "duplicate variant `{}` in enum `{}` (first on line {line})",
                        value.name.text, def.name.text
                    ),
                );
                continue;
            }
            names_seen.insert(&value.name.text, value.name.loc);
            let Ok(number32) = i32::try_from(number) else {
                self.error(
                    loc,
                    format!("enum value {number} does not fit protobuf's 32-bit enum numbers"),
                );
                continue;
            };
            if i == 0 && number != 0 {
                self.error(
                    loc,
                    format!(
                        "the first variant of enum `{}` must be 0: protobuf uses it as the \
                         default (add a first variant like `Unspecified = 0`)",
                        def.name.text
                    ),
                );
            }
            if let Some(other) = numbers.get(&number) {
                self.error(
                    loc,
                    format!(
                        "enum value {number} is already used by `{other}` in enum `{}`",
                        def.name.text
                    ),
                );
                continue;
            }
            numbers.insert(number, &value.name.text);
            out.push(model::EnumValue {
                name: value.name.text.clone(),
                proto_name: names::proto_enum_value_name(&def.name.text, &value.name.text),
                docs: value.docs.clone(),
                number: number32,
            });
        }
        model::Enum {
            name: def.name.text.clone(),
            docs: def.docs.clone(),
            values: out,
        }
    }

    /// protobuf puts enum values in the package scope, beside the types: their prefixed names
    /// must clash with nothing there.
    fn enum_value_scope(&mut self, types: &[model::TypeDef]) {
        let mut scope: HashMap<String, String> = self
            .file
            .types
            .iter()
            .map(|t| (t.name.text.clone(), format!("type `{}`", t.name.text)))
            .collect();
        for service in &self.file.services {
            scope
                .entry(service.name.text.clone())
                .or_insert_with(|| format!("service `{}`", service.name.text));
        }
        let file = self.file;
        for def in types {
            let model::TypeDef::Enum(e) = def else {
                continue;
            };
            let Some(ast) = file.types.iter().find(|t| t.name.text == e.name) else {
                continue;
            };
            for value in &e.values {
                let loc = match &ast.kind {
                    TypeDefKind::Enum(values) => values
                        .iter()
                        .find(|v| v.name.text == value.name)
                        .map(|v| v.name.loc)
                        .unwrap_or(ast.name.loc),
                    _ => ast.name.loc,
                };
                let owner = format!("`{}::{}`", e.name, value.name);
                if let Some(other) = scope.get(&value.proto_name) {
                    let other = other.clone();
                    self.error(
                        loc,
                        format!(
                            "{owner} becomes protobuf enum value `{}`, which collides with \
                             {other}",
                            value.proto_name
                        ),
                    );
                } else {
                    scope.insert(value.proto_name.clone(), owner);
                }
            }
        }
    }

    /// Rejects messages that contain themselves without indirection: their Rust type would have
    /// infinite size.
    fn cycles(&mut self, types: &[model::TypeDef]) {
        let mut edges: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for def in types {
            let model::TypeDef::Message(m) = def else {
                continue;
            };
            let list = edges.entry(m.name.as_str()).or_default();
            for field in &m.fields {
                match &field.kind {
                    FieldKind::Value {
                        ty: ValueType::Message { name, boxed: false },
                        label: Label::Single | Label::Optional,
                        ..
                    } => list.push((name.as_str(), field.name.as_str())),
                    FieldKind::Oneof(o) => {
                        for v in &o.variants {
                            if let ValueType::Message { name, boxed: false } = &v.ty {
                                list.push((name.as_str(), field.name.as_str()));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        let mut state: HashMap<&str, u8> = HashMap::new();
        let mut reports = Vec::new();
        for def in types {
            if let model::TypeDef::Message(m) = def {
                let mut path = Vec::new();
                visit(&m.name, &edges, &mut state, &mut path, &mut reports);
            }
        }
        let file = self.file;
        for (message, field, chain) in reports {
            let loc = file
                .types
                .iter()
                .find(|t| t.name.text == message)
                .and_then(|t| match &t.kind {
                    TypeDefKind::Struct(fields) => fields.iter().find(|f| f.name.text == field),
                    _ => None,
                })
                .map(|f| f.name.loc)
                .unwrap_or_else(Loc::file_start);
            self.error(
                loc,
                format!(
                    "message `{message}` contains itself through {chain}, so it would have \
                     infinite size: make the field `Option<Box<T>>` or `Vec<T>`"
                ),
            );
        }
    }

    fn services(&mut self) -> Vec<model::Service> {
        let file = self.file;
        if file.services.is_empty() {
            self.error(
                Loc::file_start(),
                "the file defines no service: mark a trait with `#[rpcnet::service]`",
            );
        }
        let mut out = Vec::new();
        let mut names_seen: HashMap<&str, Loc> = HashMap::new();
        let mut modules: HashMap<String, &str> = HashMap::new();
        for service in &file.services {
            self.type_name(&service.name, "service");
            let text = service.name.text.as_str();
            if let Some(first) = names_seen.get(text) {
                let line = first.line;
                self.error(
                    service.name.loc,
                    format!("duplicate service `{text}` (first defined on line {line})"),
                );
                continue;
            }
            names_seen.insert(text, service.name.loc);
            if let Some(kind) = self.lookup(text) {
                self.error(
                    service.name.loc,
                    format!(
                        "service `{text}` has the name of {} defined in this file; protobuf \
                         keeps both in one scope",
                        kind.describe()
                    ),
                );
            }
            let module = names::service_module_name(text);
            if names::is_unmappable_keyword(&module) {
                self.error(
                    service.name.loc,
                    format!(
                        "service `{text}` would get module `{module}`, a Rust keyword that \
                         cannot be used as a module name"
                    ),
                );
            }
            if let Some(other) = modules.get(&module) {
                self.error(
                    service.name.loc,
                    format!(
                        "services `{other}` and `{text}` both get module `{module}` (the name in \
                         lowercase)"
                    ),
                );
            }
            modules.insert(module.clone(), text);
            let methods = self.methods(service);
            out.push(model::Service {
                name: text.to_string(),
                wire_name: text.to_string(),
                module,
                docs: service.docs.clone(),
                methods,
            });
        }
        out
    }

    fn methods(&mut self, service: &ast::Service) -> Vec<model::Method> {
        let mut out = Vec::new();
        let mut by_name: HashMap<&str, Loc> = HashMap::new();
        let mut by_wire: HashMap<String, &str> = HashMap::new();
        for method in &service.methods {
            let name = method.name.text.as_str();
            self.member_name(&method.name, "method");
            if names::RESERVED_METHOD_NAMES.contains(&name) {
                self.error(
                    method.name.loc,
                    format!(
                        "method name `{name}` is reserved: the generated client already has a \
                         method of that name"
                    ),
                );
            }
            if let Some(first) = by_name.get(name) {
                let line = first.line;
                self.error(
                    method.name.loc,
                    format!(
                        "duplicate method `{name}` in service `{}` (first on line {line})",
                        service.name.text
                    ),
                );
                continue;
            }
            by_name.insert(name, method.name.loc);
            let wire_name = names::wire_method_name(name);
            let path_const = names::path_const_name(name);
            if let Some(other) = by_wire.get(&wire_name) {
                self.error(
                    method.name.loc,
                    format!(
                        "methods `{other}` and `{name}` collide after case conversion: both \
                         become wire method `{wire_name}` and constant `{path_const}`"
                    ),
                );
            }
            by_wire.insert(wire_name.clone(), name);
            let request = self.rpc_type(&method.request, "request");
            let response = self.rpc_type(&method.response, "response");
            if let (Some((request, client_streaming)), Some((response, server_streaming))) =
                (request, response)
            {
                out.push(model::Method {
                    name: name.to_string(),
                    wire_name,
                    path_const,
                    docs: method.docs.clone(),
                    request,
                    response,
                    client_streaming,
                    server_streaming,
                });
            }
        }
        out
    }

    /// The message name of a request or response type and whether it is streamed.
    fn rpc_type(&mut self, ty: &Ty, what: &str) -> Option<(String, bool)> {
        match ty {
            Ty::Streaming(inner, _) => match &**inner {
                Ty::Streaming(_, loc) => {
                    self.error(*loc, "nested `Streaming` is not supported");
                    None
                }
                other => self.rpc_message(other, what).map(|name| (name, true)),
            },
            other => self.rpc_message(other, what).map(|name| (name, false)),
        }
    }

    fn rpc_message(&mut self, ty: &Ty, what: &str) -> Option<String> {
        if contains_streaming(ty) {
            self.error(
                ty.loc(),
                "`Streaming<T>` is misplaced: it must be the whole request or response type",
            );
            return None;
        }
        match ty {
            Ty::Named(n) => match self.lookup(&n.text) {
                Some(Kind::Message) => Some(n.text.clone()),
                Some(kind) => {
                    self.error(
                        n.loc,
                        format!(
                            "the {what} type must be a message, but `{}` is {}",
                            n.text,
                            kind.describe()
                        ),
                    );
                    None
                }
                None => {
                    self.unknown_type(n);
                    None
                }
            },
            _ => {
                self.error(
                    ty.loc(),
                    format!(
                        "the {what} type must be a message of this file (optionally in \
                         `Streaming<..>`); wrap other types in a message"
                    ),
                );
                None
            }
        }
    }
}

/// The resolved shape of a message field, before numbering.
enum Shape {
    Value(ValueType, Label),
    Map(ValueType),
    Oneof(Name),
}

/// Assigns field numbers within one message: pinned numbers as given, the others one past the
/// previous field's number (like prost), all checked for range and uniqueness.
struct Numbering {
    message: String,
    next: u64,
    used: HashMap<u64, String>,
    diags: Vec<Diagnostic>,
}

impl Numbering {
    fn new(message: &str) -> Self {
        Numbering {
            message: message.to_string(),
            next: 1,
            used: HashMap::new(),
            diags: Vec::new(),
        }
    }

    fn assign(&mut self, pinned: Option<(u64, Loc)>, name: &Name) -> u32 {
        let (tag, loc, how) = match pinned {
            Some((tag, loc)) => (tag, loc, "pinned"),
            None => (self.next, name.loc, "assigned in declaration order"),
        };
        self.next = tag.saturating_add(1);
        if tag == 0 || tag > MAX_TAG {
            self.diags.push(Diagnostic::new(
                loc,
                format!(
                    "invalid field number {tag} ({how}) for `{}`: protobuf field numbers are \
                     1 to {MAX_TAG}",
                    name.text
                ),
            ));
        } else if RESERVED_TAGS.contains(&tag) {
            self.diags.push(Diagnostic::new(
                loc,
                format!(
                    "invalid field number {tag} ({how}) for `{}`: protobuf reserves 19000 to \
                     19999",
                    name.text
                ),
            ));
        } else if let Some(other) = self.used.get(&tag) {
            self.diags.push(Diagnostic::new(
                loc,
                format!(
                    "field number {tag} ({how}) for `{}` is already used by `{other}` in \
                     message `{}`",
                    name.text, self.message
                ),
            ));
        } else {
            self.used.insert(tag, name.text.clone());
        }
        u32::try_from(tag).unwrap_or(0)
    }
}

fn contains_streaming(ty: &Ty) -> bool {
    match ty {
        Ty::Streaming(..) => true,
        Ty::Scalar(..) | Ty::Named(_) => false,
        Ty::Option(inner, _) | Ty::Vec(inner, _) | Ty::Boxed(inner, _) => contains_streaming(inner),
        Ty::Map(k, v, _) => contains_streaming(k) || contains_streaming(v),
    }
}

/// Depth-first search for containment cycles; records `(message, field, chain)` at each edge
/// that closes one.
fn visit<'m>(
    node: &'m str,
    edges: &BTreeMap<&'m str, Vec<(&'m str, &'m str)>>,
    state: &mut HashMap<&'m str, u8>,
    path: &mut Vec<(&'m str, &'m str)>,
    reports: &mut Vec<(String, String, String)>,
) {
    const ACTIVE: u8 = 1;
    const DONE: u8 = 2;
    if state.get(node).is_some() {
        return;
    }
    state.insert(node, ACTIVE);
    for &(target, field) in edges.get(node).map(Vec::as_slice).unwrap_or(&[]) {
        path.push((node, field));
        match state.get(target) {
            Some(&ACTIVE) => {
                let start = path.iter().position(|(m, _)| *m == target).unwrap_or(0);
                let chain = path[start..]
                    .iter()
                    .map(|(m, f)| format!("`{m}.{f}`"))
                    .collect::<Vec<_>>()
                    .join(" -> ");
                reports.push((node.to_string(), field.to_string(), chain));
            }
            Some(_) => {}
            None => visit(target, edges, state, path, reports),
        }
        path.pop();
    }
    state.insert(node, DONE);
}
