//! Turns a checked schema into file contents: Rust files (formatted) in either layout, and the
//! `.proto` text.
//!
//! [`messages`] and [`service`] emit the items; this module only places them in files, so the
//! two layouts share every item and differ in how the modules are declared and documented.

pub mod messages;
pub mod proto;
pub mod service;

use proc_macro2::TokenStream;
use quote::quote;

use crate::model::Schema;
use crate::names::rust_ident;
use crate::Layout;

/// One output file: its path relative to an output root, and its contents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Which output root the path is relative to.
    pub root: Root,
    /// The path below that root, with `/` separators.
    pub relative: String,
    /// The full file text.
    pub contents: String,
}

/// The two output roots.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Root {
    /// Rust modules (`--out-dir`).
    Rust,
    /// The `.proto` file (`--proto-out`).
    Proto,
}

/// Every file for `schema` in `layout`, in a fixed order: the Rust files (see
/// [`Layout`]), then the `.proto`.
///
/// Fails only if the emitted Rust does not parse back, which would be a generator bug.
pub fn all(schema: &Schema, layout: Layout) -> Result<Vec<Output>, syn::Error> {
    let mut out = rust(schema, messages::types(schema), layout)?;
    out.push(Output {
        root: Root::Proto,
        relative: format!("{}.proto", schema.module),
        contents: proto::file(schema),
    });
    Ok(out)
}

/// The Rust files for `schema` in `layout`: `messages` (the tokens of every message and enum,
/// from [`messages::types`] or, for `.proto` input, from prost-build) placed beside one module
/// per service of `schema.services`.
///
/// Fails only if the tokens do not parse as a file, which would be a generator bug.
pub fn rust(
    schema: &Schema,
    messages: TokenStream,
    layout: Layout,
) -> Result<Vec<Output>, syn::Error> {
    let header = format!(
        "{} from {}. Do not edit.\n",
        crate::output::GENERATED_MARKER,
        schema.source
    );
    match layout {
        Layout::Modules => modules(schema, messages, &header),
        Layout::SingleFile => Ok(vec![single_file(schema, messages, &header)?]),
    }
}

/// [`Layout::Modules`]: `<stem>/mod.rs` with `//!` docs, `pub mod <service>;` declarations and
/// the messages, then one `<stem>/<service>/mod.rs` per service.
fn modules(schema: &Schema, types: TokenStream, header: &str) -> Result<Vec<Output>, syn::Error> {
    let title = format!(
        " Messages of protobuf package `{}`, generated from `{}`.",
        schema.package, schema.source
    );
    let docs = file_docs(schema, &[title]);
    let docs = docs.iter().map(|d| quote!(#![doc = #d]));
    let declarations = schema.services.iter().map(|s| {
        let module = rust_ident(&s.module);
        quote!(pub mod #module;)
    });
    let mut out = vec![Output {
        root: Root::Rust,
        relative: format!("{}/mod.rs", schema.module),
        contents: rust_file(
            header,
            quote! {
                #(#docs)*
                #(#declarations)*
                #types
            },
        )?,
    }];
    for service in &schema.services {
        out.push(Output {
            root: Root::Rust,
            relative: format!("{}/{}/mod.rs", schema.module, service.module),
            contents: rust_file(header, service::module(schema, service))?,
        });
    }
    Ok(out)
}

/// [`Layout::SingleFile`]: `<stem>.rs`, valid inside `include!`. The file docs become plain
/// comments under the `@generated` line (the includer owns the module and its docs); each
/// service module is inline, keeping its `//!` docs, which are allowed in an inline body.
fn single_file(schema: &Schema, types: TokenStream, header: &str) -> Result<Output, syn::Error> {
    let title = [
        format!(
            " Messages of protobuf package `{}`, then one module per service, made for",
            schema.package
        ),
        format!(
            " `include!` (`rpcnet::include_stubs!(\"{}\")`) inside a module the includer declares.",
            schema.module
        ),
    ];
    let mut header = header.to_owned();
    for line in comment_lines(&file_docs(schema, &title)) {
        header.push_str(&line);
        header.push('\n');
    }
    // A blank line, so the comments do not read as belonging to the first item.
    header.push('\n');
    let services = schema.services.iter().map(|s| {
        let module = rust_ident(&s.module);
        let body = service::module(schema, s);
        quote! {
            pub mod #module {
                #body
            }
        }
    });
    Ok(Output {
        root: Root::Rust,
        relative: format!("{}.rs", schema.module),
        contents: rust_file(
            &header,
            quote! {
                #types
                #(#services)*
            },
        )?,
    })
}

/// The docs of the file as a whole: `title`, then the definition's `//!` lines after a blank
/// line.
fn file_docs(schema: &Schema, title: &[String]) -> Vec<String> {
    let mut docs = title.to_vec();
    if !schema.docs.is_empty() {
        docs.push(String::new());
        docs.extend(schema.docs.iter().cloned());
    }
    docs
}

/// Formats tokens with prettyplease under the `@generated` header.
fn rust_file(header: &str, tokens: TokenStream) -> Result<String, syn::Error> {
    let file: syn::File = syn::parse2(tokens)?;
    Ok(format!("{header}{}", prettyplease::unparse(&file)))
}

/// `#[doc = "..."]` attributes for doc comment lines.
pub(crate) fn doc_attrs(lines: &[String]) -> TokenStream {
    let attrs = lines.iter().map(|line| quote!(#[doc = #line]));
    quote!(#(#attrs)*)
}

/// Doc comment lines as plain `//` comment lines (one per line of a multi-line block comment,
/// `//` for an empty one), without trailing whitespace.
pub(crate) fn comment_lines(docs: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for doc in docs {
        for line in doc.lines() {
            out.push(format!("//{line}").trim_end().to_owned());
        }
        if doc.is_empty() {
            out.push("//".to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_lines_split_blocks_and_keep_blank_lines() {
        let docs = [
            " One.".to_owned(),
            String::new(),
            " A block\n spanning two lines. ".to_owned(),
        ];
        assert_eq!(
            comment_lines(&docs),
            ["// One.", "//", "// A block", "// spanning two lines."]
        );
    }
}
