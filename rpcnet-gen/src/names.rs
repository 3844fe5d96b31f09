//! Name rules in one place: case conversions, Rust keywords and raw identifiers, reserved names.

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Ident, Span};

/// Rust keywords (strict and reserved, all editions) that need `r#` when used as identifiers.
const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "do", "dyn",
    "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let",
    "loop", "macro", "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return",
    "static", "struct", "trait", "true", "try", "type", "typeof", "union", "unsafe", "unsized",
    "use", "virtual", "where", "while", "yield",
];

/// Keywords that cannot be written as raw identifiers, so no generated item can carry them.
const UNMAPPABLE_KEYWORDS: &[&str] = &["self", "Self", "super", "crate", "_"];

/// Type names the generated code relies on, or that mean runtime types in the input, so a
/// message or enum may not take them.
pub const RESERVED_TYPE_NAMES: &[&str] = &[
    "Box",
    "HashMap",
    "Option",
    "Result",
    "Self",
    "Status",
    "Streaming",
    "String",
    "Vec",
];

/// Method names the generated client already defines (`new`, `connect`, `inner`) or derives
/// (`clone`); an RPC with one of these names would shadow or clash with it.
pub const RESERVED_METHOD_NAMES: &[&str] = &["clone", "connect", "inner", "new"];

/// Whether `name` is a Rust keyword that must be written `r#name`.
pub fn is_rust_keyword(name: &str) -> bool {
    RUST_KEYWORDS.contains(&name)
}

/// Whether `name` is a keyword no identifier can take, not even as `r#name`.
pub fn is_unmappable_keyword(name: &str) -> bool {
    UNMAPPABLE_KEYWORDS.contains(&name)
}

/// A Rust identifier for `name`, raw (`r#type`) when `name` is a keyword.
///
/// Callers check names with [`is_unmappable_keyword`] first (the checker rejects those), so
/// every name reaching here is representable.
pub fn rust_ident(name: &str) -> Ident {
    if is_rust_keyword(name) {
        Ident::new_raw(name, Span::call_site())
    } else {
        Ident::new(name, Span::call_site())
    }
}

/// Whether `name` is a plain ASCII identifier: a letter first, then letters, digits and `_`.
///
/// This is what protobuf accepts for every name, and a subset of what Rust accepts.
pub fn is_ascii_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Wire name of a method: `generate_text` -> `GenerateText`.
pub fn wire_method_name(rust_name: &str) -> String {
    rust_name.to_upper_camel_case()
}

/// Path constant of a method: `generate_text` -> `GENERATE_TEXT_PATH`.
pub fn path_const_name(rust_name: &str) -> String {
    format!("{}_PATH", rust_name.to_shouty_snake_case())
}

/// Module holding a service's stubs: the service name in lowercase (`DirectorRegistry` ->
/// `directorregistry`).
pub fn service_module_name(service: &str) -> String {
    service.to_ascii_lowercase()
}

/// Module of a whole input file: its stem in snake case (`connection_swap.rpc.rs` ->
/// `connection_swap`, `my-api.rpc.rs` -> `my_api`).
pub fn file_module_name(stem: &str) -> String {
    stem.to_snake_case()
}

/// Protobuf name of an enum value: enum and variant in SCREAMING_SNAKE, joined
/// (`Kind::TextOnly` -> `KIND_TEXT_ONLY`), because protobuf enum values share one scope per
/// package. prost-build strips the prefix again, giving back `TextOnly`.
pub fn proto_enum_value_name(enum_name: &str, variant: &str) -> String {
    format!(
        "{}_{}",
        enum_name.to_shouty_snake_case(),
        variant.to_shouty_snake_case()
    )
}

/// Protobuf field name of a oneof variant: `ImageRef` -> `image_ref`.
pub fn proto_oneof_field_name(variant: &str) -> String {
    variant.to_snake_case()
}

/// protobuf's JSON name of a field (`foo_bar` -> `fooBar`), used to find fields whose names
/// differ only in underscores or the case after them; protoc rejects such pairs.
pub fn proto_json_name(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper_next = false;
    for c in field.chars() {
        if c == '_' {
            upper_next = true;
        } else if upper_next {
            out.push(c.to_ascii_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_become_raw_identifiers() {
        for (name, expected) in [
            ("type", "r#type"),
            ("match", "r#match"),
            ("gen", "r#gen"),
            ("name", "name"),
            ("kind", "kind"),
        ] {
            assert_eq!(rust_ident(name).to_string(), expected, "{name}");
        }
    }

    #[test]
    fn unmappable_keywords() {
        for name in ["self", "Self", "super", "crate", "_"] {
            assert!(is_unmappable_keyword(name), "{name}");
        }
        assert!(!is_unmappable_keyword("type"));
    }

    #[test]
    fn case_conversions() {
        let table = [
            ("generate", "Generate", "GENERATE_PATH"),
            ("generate_text", "GenerateText", "GENERATE_TEXT_PATH"),
            ("get_v2_user", "GetV2User", "GET_V2_USER_PATH"),
            ("getUser", "GetUser", "GET_USER_PATH"),
        ];
        for (rust, wire, constant) in table {
            assert_eq!(wire_method_name(rust), wire);
            assert_eq!(path_const_name(rust), constant);
        }
        assert_eq!(service_module_name("DirectorRegistry"), "directorregistry");
        assert_eq!(file_module_name("my-api"), "my_api");
        assert_eq!(proto_enum_value_name("Kind", "TextOnly"), "KIND_TEXT_ONLY");
        assert_eq!(
            proto_enum_value_name("HTTPCode", "NotFound"),
            "HTTP_CODE_NOT_FOUND"
        );
        assert_eq!(proto_oneof_field_name("ImageRef"), "image_ref");
    }

    #[test]
    fn json_names_fold_underscores_and_case() {
        assert_eq!(proto_json_name("foo_bar"), proto_json_name("fooBar"));
        assert_eq!(proto_json_name("foo__bar"), proto_json_name("foo_bar"));
        assert_ne!(proto_json_name("foo_bar"), proto_json_name("foobar_x"));
    }

    #[test]
    fn ascii_identifiers() {
        assert!(is_ascii_identifier("abc_1"));
        assert!(is_ascii_identifier("Abc"));
        assert!(!is_ascii_identifier("_abc"));
        assert!(!is_ascii_identifier("1abc"));
        assert!(!is_ascii_identifier("größe"));
        assert!(!is_ascii_identifier(""));
    }
}
