//! Emits the messages of a schema: prost-derived structs, enums and oneofs, in source order.

use proc_macro2::{Literal, TokenStream};
use quote::quote;

use crate::ast::Scalar;
use crate::emit::doc_attrs;
use crate::model::{self, FieldKind, Label, Schema, TypeDef, ValueType};
use crate::names::rust_ident;

/// The path prost's derives are told to use, so generated code needs only `rpcnet` (for
/// `.proto` input, prost-build's `prost_path`).
pub const PROST_PATH: &str = "rpcnet::codegen::prost";

/// Tokens of every message and enum (oneofs beside their message), in source order; the
/// layout in `emit` decides which file they go in.
pub fn types(schema: &Schema) -> TokenStream {
    let types = schema.types.iter().map(|t| match t {
        TypeDef::Message(m) => message(m),
        TypeDef::Enum(e) => enumeration(e),
    });
    quote!(#(#types)*)
}

fn message(m: &model::Message) -> TokenStream {
    let name = rust_ident(&m.name);
    let docs = doc_attrs(&m.docs);
    let fields = m.fields.iter().map(field);
    let oneofs = m.fields.iter().filter_map(|f| match &f.kind {
        FieldKind::Oneof(o) => Some(oneof(o)),
        _ => None,
    });
    quote! {
        #docs
        #[derive(Clone, PartialEq, rpcnet::codegen::prost::Message)]
        #[prost(prost_path = #PROST_PATH)]
        pub struct #name {
            #(#fields)*
        }
        #(#oneofs)*
    }
}

fn field(f: &model::Field) -> TokenStream {
    let name = rust_ident(&f.name);
    let docs = doc_attrs(&f.docs);
    let (attr, ty) = match &f.kind {
        FieldKind::Value { ty, label, tag } => {
            let tag = tag.to_string();
            let (kind, element) = value_kind(ty);
            let label_attr = match (label, ty) {
                (Label::Single, ValueType::Message { .. }) => quote!(required,),
                (Label::Single, _) => quote!(),
                (Label::Optional, _) => quote!(optional,),
                (Label::Repeated, _) => quote!(repeated,),
            };
            let boxed = boxed_attr(ty);
            let rust_ty = match label {
                Label::Single => element,
                Label::Optional => quote!(Option<#element>),
                Label::Repeated => quote!(Vec<#element>),
            };
            (quote!(#kind, #label_attr #boxed tag = #tag), rust_ty)
        }
        FieldKind::Map { value, tag } => {
            let tag = tag.to_string();
            let spec = format!("string, {}", map_value_spec(value));
            let (_, element) = value_kind(value);
            (
                quote!(map = #spec, tag = #tag),
                quote!(std::collections::HashMap<String, #element>),
            )
        }
        FieldKind::Oneof(o) => {
            let tags = o
                .variants
                .iter()
                .map(|v| v.tag.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let oneof_name = o.name.as_str();
            let ty = rust_ident(&o.name);
            (
                quote!(oneof = #oneof_name, tags = #tags),
                quote!(Option<#ty>),
            )
        }
    };
    quote! {
        #docs
        #[prost(#attr)]
        pub #name: #ty,
    }
}

/// The prost type attribute (`string`, `message`, `enumeration = "Kind"`, ...) and the Rust
/// element type of one value.
fn value_kind(ty: &ValueType) -> (TokenStream, TokenStream) {
    match ty {
        ValueType::Scalar(s) => scalar(*s),
        ValueType::Message { name, boxed } => {
            let ident = rust_ident(name);
            let rust = if *boxed {
                quote!(Box<#ident>)
            } else {
                quote!(#ident)
            };
            (quote!(message), rust)
        }
        ValueType::Enum(name) => {
            let name = name.as_str();
            (quote!(enumeration = #name), quote!(i32))
        }
    }
}

fn boxed_attr(ty: &ValueType) -> TokenStream {
    match ty {
        ValueType::Message { boxed: true, .. } => quote!(boxed,),
        _ => quote!(),
    }
}

fn scalar(s: Scalar) -> (TokenStream, TokenStream) {
    match s {
        Scalar::String => (quote!(string), quote!(String)),
        Scalar::Bytes => (quote!(bytes = "vec"), quote!(Vec<u8>)),
        Scalar::Bool => (quote!(bool), quote!(bool)),
        Scalar::I32 => (quote!(int32), quote!(i32)),
        Scalar::I64 => (quote!(int64), quote!(i64)),
        Scalar::U32 => (quote!(uint32), quote!(u32)),
        Scalar::U64 => (quote!(uint64), quote!(u64)),
        Scalar::F32 => (quote!(float), quote!(f32)),
        Scalar::F64 => (quote!(double), quote!(f64)),
    }
}

/// The value part of prost's `map = "string, <value>"` attribute.
fn map_value_spec(ty: &ValueType) -> String {
    match ty {
        ValueType::Scalar(s) => crate::emit::proto::scalar_name(*s).to_string(),
        ValueType::Message { .. } => "message".to_string(),
        ValueType::Enum(name) => format!("enumeration({name})"),
    }
}

fn oneof(o: &model::Oneof) -> TokenStream {
    let name = rust_ident(&o.name);
    let docs = doc_attrs(&o.docs);
    let variants = o.variants.iter().map(|v| {
        let vname = rust_ident(&v.name);
        let docs = doc_attrs(&v.docs);
        let tag = v.tag.to_string();
        let (kind, ty) = value_kind(&v.ty);
        let boxed = boxed_attr(&v.ty);
        quote! {
            #docs
            #[prost(#kind, #boxed tag = #tag)]
            #vname(#ty),
        }
    });
    quote! {
        #docs
        #[allow(clippy::large_enum_variant)]
        #[derive(Clone, PartialEq, rpcnet::codegen::prost::Oneof)]
        #[prost(prost_path = #PROST_PATH)]
        pub enum #name {
            #(#variants)*
        }
    }
}

fn enumeration(e: &model::Enum) -> TokenStream {
    let name = rust_ident(&e.name);
    let docs = doc_attrs(&e.docs);
    let variants = e.values.iter().map(|v| {
        let vname = rust_ident(&v.name);
        let docs = doc_attrs(&v.docs);
        let number = int_tokens(v.number);
        quote! {
            #docs
            #vname = #number,
        }
    });
    let to_name = e.values.iter().map(|v| {
        let vname = rust_ident(&v.name);
        let proto = v.proto_name.as_str();
        quote!(Self::#vname => #proto,)
    });
    let from_name = e.values.iter().map(|v| {
        let vname = rust_ident(&v.name);
        let proto = v.proto_name.as_str();
        quote!(#proto => Some(Self::#vname),)
    });
    quote! {
        #docs
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord,
            rpcnet::codegen::prost::Enumeration
        )]
        #[prost(prost_path = #PROST_PATH)]
        #[repr(i32)]
        pub enum #name {
            #(#variants)*
        }
        impl #name {
            /// The value's name in the `.proto` file (prefixed with the enum name, since
            /// protobuf enum values share one scope per package).
            pub fn as_str_name(&self) -> &'static str {
                match self {
                    #(#to_name)*
                }
            }

            /// The value whose `.proto` name is `value`, if any.
            pub fn from_str_name(value: &str) -> Option<Self> {
                match value {
                    #(#from_name)*
                    _ => None,
                }
            }
        }
    }
}

/// An integer literal, with negative numbers written as a negation so every token is valid.
fn int_tokens(n: i32) -> TokenStream {
    let magnitude = Literal::i64_unsuffixed(i64::from(n).abs());
    if n < 0 {
        quote!(-#magnitude)
    } else {
        quote!(#magnitude)
    }
}
