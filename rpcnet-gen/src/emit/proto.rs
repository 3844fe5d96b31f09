//! Emits the `.proto` equivalent of a schema, so other languages can speak the same wire.

use std::fmt::Write as _;

use crate::ast::Scalar;
use crate::emit::comment_lines;
use crate::model::{self, FieldKind, Label, Schema, TypeDef, ValueType};

/// The protobuf name of a scalar type.
pub fn scalar_name(s: Scalar) -> &'static str {
    match s {
        Scalar::String => "string",
        Scalar::Bytes => "bytes",
        Scalar::Bool => "bool",
        Scalar::I32 => "int32",
        Scalar::I64 => "int64",
        Scalar::U32 => "uint32",
        Scalar::U64 => "uint64",
        Scalar::F32 => "float",
        Scalar::F64 => "double",
    }
}

/// The whole `.proto` file, starting with the `@generated` line.
pub fn file(schema: &Schema) -> String {
    let mut out = String::new();
    push_line(
        &mut out,
        0,
        &format!(
            "{} from {}. Do not edit.",
            crate::output::GENERATED_MARKER,
            schema.source
        ),
    );
    if !schema.docs.is_empty() {
        push_line(&mut out, 0, "//");
        docs(&mut out, 0, &schema.docs);
    }
    out.push('\n');
    push_line(&mut out, 0, "syntax = \"proto3\";");
    out.push('\n');
    push_line(&mut out, 0, &format!("package {};", schema.package));
    for def in &schema.types {
        out.push('\n');
        match def {
            TypeDef::Message(m) => message(&mut out, m),
            TypeDef::Enum(e) => enumeration(&mut out, e),
        }
    }
    for service in &schema.services {
        out.push('\n');
        docs(&mut out, 0, &service.docs);
        push_line(&mut out, 0, &format!("service {} {{", service.wire_name));
        for m in &service.methods {
            docs(&mut out, 1, &m.docs);
            let stream = |s: bool| if s { "stream " } else { "" };
            push_line(
                &mut out,
                1,
                &format!(
                    "rpc {}({}{}) returns ({}{});",
                    m.wire_name,
                    stream(m.client_streaming),
                    m.request,
                    stream(m.server_streaming),
                    m.response
                ),
            );
        }
        push_line(&mut out, 0, "}");
    }
    out
}

fn message(out: &mut String, m: &model::Message) {
    docs(out, 0, &m.docs);
    if m.fields.is_empty() {
        push_line(out, 0, &format!("message {} {{}}", m.name));
        return;
    }
    push_line(out, 0, &format!("message {} {{", m.name));
    for f in &m.fields {
        docs(out, 1, &f.docs);
        match &f.kind {
            FieldKind::Value { ty, label, tag } => {
                let prefix = match (label, ty) {
                    (Label::Repeated, _) => "repeated ",
                    // Message fields always have presence in proto3; `optional` is for scalars.
                    (Label::Optional, ValueType::Message { .. }) => "",
                    (Label::Optional, _) => "optional ",
                    (Label::Single, _) => "",
                };
                push_line(
                    out,
                    1,
                    &format!("{prefix}{} {} = {tag};", value_name(ty), f.name),
                );
            }
            FieldKind::Map { value, tag } => push_line(
                out,
                1,
                &format!("map<string, {}> {} = {tag};", value_name(value), f.name),
            ),
            FieldKind::Oneof(o) => {
                docs(out, 1, &o.docs);
                push_line(out, 1, &format!("oneof {} {{", f.name));
                for v in &o.variants {
                    docs(out, 2, &v.docs);
                    push_line(
                        out,
                        2,
                        &format!("{} {} = {};", value_name(&v.ty), v.proto_name, v.tag),
                    );
                }
                push_line(out, 1, "}");
            }
        }
    }
    push_line(out, 0, "}");
}

fn enumeration(out: &mut String, e: &model::Enum) {
    docs(out, 0, &e.docs);
    push_line(out, 0, &format!("enum {} {{", e.name));
    for v in &e.values {
        docs(out, 1, &v.docs);
        push_line(out, 1, &format!("{} = {};", v.proto_name, v.number));
    }
    push_line(out, 0, "}");
}

fn value_name(ty: &ValueType) -> &str {
    match ty {
        ValueType::Scalar(s) => scalar_name(*s),
        ValueType::Message { name, .. } => name,
        ValueType::Enum(name) => name,
    }
}

/// Doc comment lines as `//` comments; a doc attribute may itself hold several lines.
fn docs(out: &mut String, depth: usize, lines: &[String]) {
    for line in comment_lines(lines) {
        push_line(out, depth, &line);
    }
}

fn push_line(out: &mut String, depth: usize, text: &str) {
    for _ in 0..depth {
        out.push_str("  ");
    }
    // Writing to a String cannot fail.
    let _ = writeln!(out, "{}", text.trim_end());
}
