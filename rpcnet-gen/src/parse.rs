//! Reads a `.rpc.rs` file with syn into the [`ast`](mod@crate::ast), rejecting shapes it cannot express.
//!
//! This module checks syntax-level shape only (which items, attributes, type constructors and
//! method signatures are allowed). Names, references and numbering are the checker's job.

use syn::{
    Attribute, Expr, ExprLit, ExprUnary, FnArg, GenericArgument, Item, Lit, Pat, PathArguments,
    ReturnType, TraitItem, Type, UnOp,
};

use crate::ast::{self, Name, Scalar, Ty};
use crate::diagnostic::{self, Diagnostic, Loc};

/// Parses `source` into the ast, or returns every problem found.
///
/// Parsing continues past most errors so one run reports as many as it can.
pub fn parse(source: &str) -> Result<ast::File, Vec<Diagnostic>> {
    let file = syn::parse_file(source).map_err(|e| {
        diagnostic::from_syn(e)
            .into_iter()
            .map(|d| Diagnostic {
                message: format!("not valid Rust: {}", d.message),
                ..d
            })
            .collect::<Vec<_>>()
    })?;
    let mut parser = Parser::default();
    let out = parser.file(&file);
    if parser.diags.is_empty() {
        Ok(out)
    } else {
        Err(parser.diags)
    }
}

/// Where an attribute appears, which decides what it may say.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AttrPlace {
    /// `#![...]` at the top of the file: `rpcnet(package = "...")`.
    File,
    /// A message field or oneof variant: `rpcnet(tag = N)`.
    Field,
    /// Anything else: only doc comments (and lint attributes, which are ignored).
    Other,
}

/// What the attributes of one item said.
#[derive(Default)]
struct Attrs {
    docs: Vec<String>,
    tag: Option<(u64, Loc)>,
    package: Option<(String, Loc)>,
}

#[derive(Default)]
struct Parser {
    diags: Vec<Diagnostic>,
}

impl Parser {
    fn error(&mut self, loc: Loc, message: impl Into<String>) {
        self.diags.push(Diagnostic::new(loc, message));
    }

    fn file(&mut self, file: &syn::File) -> ast::File {
        let attrs = self.attrs(&file.attrs, AttrPlace::File);
        let mut out = ast::File {
            package: attrs.package,
            docs: attrs.docs,
            ..ast::File::default()
        };
        for item in &file.items {
            match item {
                // `use` lines only help editors resolve `Status` and `Streaming`; they mean
                // nothing to the generator.
                Item::Use(_) => {}
                Item::Struct(s) => {
                    if let Some(def) = self.message(s) {
                        out.types.push(def);
                    }
                }
                Item::Enum(e) => {
                    if let Some(def) = self.enumeration(e) {
                        out.types.push(def);
                    }
                }
                Item::Trait(t) => {
                    if let Some(service) = self.service(t) {
                        out.services.push(service);
                    }
                }
                other => self.error(
                    item_head_loc(other),
                    "unsupported item: a definition file holds only structs, enums, \
                     `#[rpcnet::service]` traits and `use` lines",
                ),
            }
        }
        out
    }

    /// Reads the attributes of one item, reporting those that do not belong there.
    fn attrs(&mut self, attrs: &[Attribute], place: AttrPlace) -> Attrs {
        let mut out = Attrs::default();
        for attr in attrs {
            let path = attr.path();
            if path.is_ident("doc") {
                match &attr.meta {
                    syn::Meta::NameValue(nv) => match &nv.value {
                        Expr::Lit(ExprLit {
                            lit: Lit::Str(s), ..
                        }) => out.docs.push(s.value()),
                        _ => self.error(Loc::of(attr), "unsupported doc attribute"),
                    },
                    _ => self.error(Loc::of(attr), "unsupported doc attribute"),
                }
            } else if path.is_ident("rpcnet") {
                self.rpcnet_attr(attr, place, &mut out);
            } else if ["allow", "warn", "deny", "forbid", "expect"]
                .iter()
                .any(|lint| path.is_ident(lint))
            {
                // Lint levels only matter to editors looking at the definition file.
            } else {
                let name = path_text(path);
                self.error(
                    Loc::of(attr),
                    format!(
                        "unsupported attribute `#[{name}]`: rpcnet-gen reads doc comments, \
                         `#[rpcnet(tag = N)]` on fields, `#![rpcnet(package = \"...\")]` on the \
                         file and `#[rpcnet::service]` on traits (it chooses derives itself)"
                    ),
                );
            }
        }
        out
    }

    fn rpcnet_attr(&mut self, attr: &Attribute, place: AttrPlace, out: &mut Attrs) {
        let inner = matches!(attr.style, syn::AttrStyle::Inner(_));
        if inner != (place == AttrPlace::File) || place == AttrPlace::Other {
            let message = match place {
                AttrPlace::File => {
                    "only `#![rpcnet(package = \"...\")]` may appear at the top of the file"
                }
                AttrPlace::Field => "`#[rpcnet(...)]` on a field takes only `tag = N`",
                AttrPlace::Other => {
                    "`#[rpcnet(...)]` is allowed only on message fields, oneof variants and \
                     (as `#![rpcnet(package = \"...\")]`) the file"
                }
            };
            self.error(Loc::of(attr), message);
            return;
        }
        let mut errors = Vec::new();
        let result = attr.parse_nested_meta(|meta| {
            if place == AttrPlace::Field && meta.path.is_ident("tag") {
                let lit: syn::LitInt = match meta.value()?.parse() {
                    Ok(lit) => lit,
                    Err(e) => {
                        errors.push(Diagnostic::new(
                            Loc::from_span(e.span()),
                            "invalid tag: write `#[rpcnet(tag = N)]` with N a positive integer",
                        ));
                        return Ok(());
                    }
                };
                let loc = Loc::of(&lit);
                if out.tag.is_some() {
                    errors.push(Diagnostic::new(loc, "duplicate `tag` attribute"));
                    return Ok(());
                }
                match lit.base10_parse::<u64>() {
                    Ok(value) => out.tag = Some((value, loc)),
                    Err(_) => errors.push(Diagnostic::new(
                        loc,
                        "invalid tag: write `#[rpcnet(tag = N)]` with N a positive integer",
                    )),
                }
                Ok(())
            } else if place == AttrPlace::File && meta.path.is_ident("package") {
                let lit: syn::LitStr = match meta.value()?.parse() {
                    Ok(lit) => lit,
                    Err(e) => {
                        errors.push(Diagnostic::new(
                            Loc::from_span(e.span()),
                            "invalid package: write `#![rpcnet(package = \"name\")]`",
                        ));
                        return Ok(());
                    }
                };
                if out.package.is_some() {
                    errors.push(Diagnostic::new(
                        Loc::of(&lit),
                        "duplicate `package` attribute",
                    ));
                    return Ok(());
                }
                out.package = Some((lit.value(), Loc::of(&lit)));
                Ok(())
            } else {
                let key = path_text(&meta.path);
                let expected = if place == AttrPlace::File {
                    "`package = \"...\"`"
                } else {
                    "`tag = N`"
                };
                errors.push(Diagnostic::new(
                    Loc::of(&meta.path),
                    format!("unknown rpcnet attribute `{key}`; expected {expected}"),
                ));
                // Skip the value, if any, so parsing can go on.
                if meta.input.peek(syn::Token![=]) {
                    let _: Expr = meta.value()?.parse()?;
                }
                Ok(())
            }
        });
        if let Err(e) = result {
            errors.extend(diagnostic::from_syn(e));
        }
        self.diags.extend(errors);
    }

    fn name(&mut self, ident: &syn::Ident) -> Name {
        let text = ident.to_string();
        let text = text.strip_prefix("r#").unwrap_or(&text).to_string();
        Name {
            text,
            loc: Loc::of(ident),
        }
    }

    fn no_generics(&mut self, generics: &syn::Generics, what: &str) {
        if !generics.params.is_empty() || generics.where_clause.is_some() {
            self.error(
                Loc::of(generics),
                format!("{what} cannot be generic: protobuf has no generic types"),
            );
        }
    }

    fn message(&mut self, s: &syn::ItemStruct) -> Option<ast::TypeDef> {
        let attrs = self.attrs(&s.attrs, AttrPlace::Other);
        self.no_generics(&s.generics, "messages");
        let name = self.name(&s.ident);
        let fields = match &s.fields {
            syn::Fields::Named(named) => named.named.iter().filter_map(|f| self.field(f)).collect(),
            syn::Fields::Unit => Vec::new(),
            syn::Fields::Unnamed(unnamed) => {
                self.error(
                    Loc::of(unnamed),
                    "tuple structs are not supported: message fields need names \
                     (write `struct Name { field: Type }`)",
                );
                return None;
            }
        };
        Some(ast::TypeDef {
            name,
            docs: attrs.docs,
            kind: ast::TypeDefKind::Struct(fields),
        })
    }

    fn field(&mut self, f: &syn::Field) -> Option<ast::Field> {
        let attrs = self.attrs(&f.attrs, AttrPlace::Field);
        let ident = f.ident.as_ref()?;
        let name = self.name(ident);
        let ty = self.ty(&f.ty)?;
        Some(ast::Field {
            name,
            docs: attrs.docs,
            ty,
            tag: attrs.tag,
        })
    }

    fn enumeration(&mut self, e: &syn::ItemEnum) -> Option<ast::TypeDef> {
        let attrs = self.attrs(&e.attrs, AttrPlace::Other);
        self.no_generics(&e.generics, "enums");
        let name = self.name(&e.ident);
        let carries_data = e
            .variants
            .iter()
            .any(|v| !matches!(v.fields, syn::Fields::Unit));
        let kind = if carries_data {
            ast::TypeDefKind::Oneof(e.variants.iter().filter_map(|v| self.variant(v)).collect())
        } else {
            ast::TypeDefKind::Enum(
                e.variants
                    .iter()
                    .filter_map(|v| self.enum_value(v))
                    .collect(),
            )
        };
        Some(ast::TypeDef {
            name,
            docs: attrs.docs,
            kind,
        })
    }

    fn enum_value(&mut self, v: &syn::Variant) -> Option<ast::EnumValue> {
        let attrs = self.attrs(&v.attrs, AttrPlace::Other);
        let name = self.name(&v.ident);
        let value = match &v.discriminant {
            None => None,
            Some((_, expr)) => match discriminant(expr) {
                Some(value) => Some((value, Loc::of(expr))),
                None => {
                    self.error(
                        Loc::of(expr),
                        "enum discriminants must be integer literals (`Name = 3`)",
                    );
                    return None;
                }
            },
        };
        Some(ast::EnumValue {
            name,
            docs: attrs.docs,
            value,
        })
    }

    fn variant(&mut self, v: &syn::Variant) -> Option<ast::Variant> {
        let attrs = self.attrs(&v.attrs, AttrPlace::Field);
        let name = self.name(&v.ident);
        if let Some((_, expr)) = &v.discriminant {
            self.error(
                Loc::of(expr),
                "variants of an enum that carries data (a oneof) cannot have discriminants; \
                 pin field numbers with `#[rpcnet(tag = N)]`",
            );
        }
        let field = match &v.fields {
            syn::Fields::Unnamed(fields) if fields.unnamed.len() == 1 => &fields.unnamed[0],
            _ => {
                self.error(
                    Loc::of(v),
                    format!(
                        "oneof variant `{}` must carry exactly one unnamed value, like \
                         `{}(Type)`; wrap several values in a message",
                        name.text, name.text
                    ),
                );
                return None;
            }
        };
        let ty = self.ty(&field.ty)?;
        Some(ast::Variant {
            name,
            docs: attrs.docs,
            ty,
            tag: attrs.tag,
        })
    }

    /// Reads a type expression; the checker decides later whether it fits where it appears.
    fn ty(&mut self, ty: &Type) -> Option<Ty> {
        match ty_shape(ty) {
            Ok(ty) => Some(ty),
            Err(d) => {
                self.diags.push(d);
                None
            }
        }
    }

    fn service(&mut self, t: &syn::ItemTrait) -> Option<ast::Service> {
        let marked = t.attrs.iter().any(is_service_attr);
        let other_attrs: Vec<Attribute> = t
            .attrs
            .iter()
            .filter(|a| !is_service_attr(a))
            .cloned()
            .collect();
        let attrs = self.attrs(&other_attrs, AttrPlace::Other);
        let name = self.name(&t.ident);
        if !marked {
            self.error(
                name.loc,
                format!(
                    "trait `{}` is not marked `#[rpcnet::service]`; only service traits may \
                     appear in a definition file",
                    name.text
                ),
            );
            return None;
        }
        self.no_generics(&t.generics, "services");
        if let Some(unsafety) = &t.unsafety {
            self.error(Loc::of(unsafety), "service traits cannot be `unsafe`");
        }
        if !t.supertraits.is_empty() {
            self.error(
                Loc::of(&t.supertraits),
                "service traits cannot have supertraits; the generated trait adds \
                 `Send + Sync + 'static` itself",
            );
        }
        let mut methods = Vec::new();
        for item in &t.items {
            match item {
                TraitItem::Fn(f) => {
                    if let Some(m) = self.method(f) {
                        methods.push(m);
                    }
                }
                other => self.error(
                    Loc::of(other),
                    "a service trait holds only `async fn` methods",
                ),
            }
        }
        Some(ast::Service {
            name,
            docs: attrs.docs,
            methods,
        })
    }

    fn method(&mut self, f: &syn::TraitItemFn) -> Option<ast::Method> {
        let attrs = self.attrs(&f.attrs, AttrPlace::Other);
        let sig = &f.sig;
        let name = self.name(&sig.ident);
        let head = Loc::of(&sig.fn_token).to(name.loc);
        let before = self.diags.len();
        if let Some(body) = &f.default {
            self.error(
                Loc::of(&body.brace_token.span.join()),
                "service methods have no body here; you implement the generated trait",
            );
        }
        if let Some(c) = &sig.constness {
            self.error(Loc::of(c), "service methods cannot be `const`");
        }
        if let Some(u) = &sig.unsafety {
            self.error(Loc::of(u), "service methods cannot be `unsafe`");
        }
        if let Some(abi) = &sig.abi {
            self.error(Loc::of(abi), "service methods cannot have an ABI");
        }
        if sig.asyncness.is_none() {
            self.error(
                head,
                format!(
                    "method `{}` must be `async`: write `async fn {}(&self, request: Request) \
                     -> Result<Response, Status>`",
                    name.text, name.text
                ),
            );
        }
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            self.error(Loc::of(&sig.generics), "service methods cannot be generic");
        }
        if let Some(v) = &sig.variadic {
            self.error(Loc::of(v), "service methods cannot be variadic");
        }
        let parens = Loc::from_span(sig.paren_token.span.join());
        let mut inputs = sig.inputs.iter().peekable();
        match inputs.peek() {
            Some(FnArg::Receiver(r)) => {
                inputs.next();
                if r.reference.is_none() || r.mutability.is_some() || r.colon_token.is_some() {
                    self.error(
                        Loc::of(r),
                        format!(
                            "method `{}` must take `&self` (not `self`, `&mut self` or a typed \
                             receiver)",
                            name.text
                        ),
                    );
                }
            }
            Some(FnArg::Typed(p)) => self.error(
                Loc::of(p),
                format!(
                    "method `{}` is missing `&self` as its first parameter",
                    name.text
                ),
            ),
            None => self.error(
                parens,
                format!(
                    "method `{}` is missing `&self` and the request parameter",
                    name.text
                ),
            ),
        }
        let rest: Vec<&FnArg> = inputs.collect();
        let request = match rest.as_slice() {
            [FnArg::Typed(p)] => {
                if !matches!(&*p.pat, Pat::Ident(_)) {
                    self.error(
                        Loc::of(&p.pat),
                        "the request parameter must be a plain name, like `request`",
                    );
                }
                self.ty(&p.ty)
            }
            [] => {
                if !sig.inputs.is_empty() {
                    self.error(
                        parens,
                        format!(
                            "method `{}` takes exactly one request parameter after `&self`, \
                             found none",
                            name.text
                        ),
                    );
                }
                None
            }
            [_, extra @ ..] => {
                let loc = extra
                    .first()
                    .map(Loc::of)
                    .unwrap_or(parens)
                    .to(extra.last().map(Loc::of).unwrap_or(parens));
                self.error(
                    loc,
                    format!(
                        "method `{}` takes exactly one request parameter after `&self`, found \
                         {}; put the values in one request message",
                        name.text,
                        rest.len()
                    ),
                );
                None
            }
        };
        let response = match &sig.output {
            ReturnType::Default => {
                self.error(
                    parens,
                    format!(
                        "method `{}` has no return type; it must return \
                         `Result<Response, Status>`",
                        name.text
                    ),
                );
                None
            }
            ReturnType::Type(_, ty) => match result_ok_type(ty) {
                Ok(ok) => self.ty(ok),
                Err(d) => {
                    self.diags.push(d);
                    None
                }
            },
        };
        if self.diags.len() > before {
            return None;
        }
        Some(ast::Method {
            name,
            docs: attrs.docs,
            request: request?,
            response: response?,
        })
    }
}

fn is_service_attr(attr: &Attribute) -> bool {
    let segments: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segments == ["rpcnet", "service"] && matches!(attr.meta, syn::Meta::Path(_))
}

/// The `Ok` type of `Result<Ok, Status>`, or why the return type is not of that shape.
fn result_ok_type(ty: &Type) -> Result<&Type, Diagnostic> {
    let wrong = || {
        Diagnostic::new(
            Loc::of(ty),
            "the return type must be `Result<Response, Status>`",
        )
    };
    let Type::Path(p) = ty else {
        return Err(wrong());
    };
    let Some(last) = p.path.segments.last() else {
        return Err(wrong());
    };
    if p.qself.is_some() || p.path.segments.len() != 1 || last.ident != "Result" {
        return Err(wrong());
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return Err(wrong());
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    let [ok, err] = types.as_slice() else {
        return Err(wrong());
    };
    if types.len() != args.args.len() {
        return Err(wrong());
    }
    let is_status = match err {
        Type::Path(e) => {
            let names: Vec<String> = e
                .path
                .segments
                .iter()
                .map(|s| s.ident.to_string())
                .collect();
            e.qself.is_none()
                && e.path.segments.iter().all(|s| s.arguments.is_none())
                && (names == ["Status"] || names == ["rpcnet", "Status"])
        }
        _ => false,
    };
    if !is_status {
        return Err(Diagnostic::new(
            Loc::of(*err),
            "the error type must be `Status`: service methods return `Result<Response, Status>`",
        ));
    }
    Ok(ok)
}

/// Maps a syn type onto the shapes of [`Ty`], or explains why it has none.
fn ty_shape(ty: &Type) -> Result<Ty, Diagnostic> {
    let loc = Loc::of(ty);
    let path = match ty {
        Type::Path(p) if p.qself.is_none() => &p.path,
        Type::Paren(p) => return ty_shape(&p.elem),
        Type::Group(g) => return ty_shape(&g.elem),
        Type::Reference(_) => {
            return Err(Diagnostic::new(
                loc,
                "references are not supported: messages own their data (use `String` for \
                 `&str`, `Vec<T>` for `&[T]`)",
            ))
        }
        Type::Tuple(t) if t.elems.is_empty() => {
            return Err(Diagnostic::new(
                loc,
                "`()` is not supported: use an empty message (`struct Empty {}`)",
            ))
        }
        Type::Tuple(_) => {
            return Err(Diagnostic::new(
                loc,
                "tuples are not supported: define a message with named fields",
            ))
        }
        Type::Array(_) | Type::Slice(_) => {
            return Err(Diagnostic::new(
                loc,
                "arrays and slices are not supported: use `Vec<T>`",
            ))
        }
        _ => {
            return Err(Diagnostic::new(
                loc,
                "unsupported type: use a scalar, `Option`, `Vec`, `HashMap<String, T>` or a \
                 message or enum of this file",
            ))
        }
    };
    let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
    let Some(last) = path.segments.last() else {
        return Err(Diagnostic::new(loc, "unsupported type"));
    };
    let head = last.ident.to_string();
    let head = head.strip_prefix("r#").unwrap_or(&head).to_string();
    let is_std_map = names == ["std", "collections", "HashMap"];
    if path.segments.len() != 1 && !is_std_map {
        return Err(Diagnostic::new(
            loc,
            format!(
                "unsupported type path `{}`: refer to types of this file by their bare name",
                names.join("::")
            ),
        ));
    }
    if path
        .segments
        .iter()
        .take(path.segments.len().saturating_sub(1))
        .any(|s| !s.arguments.is_none())
    {
        return Err(Diagnostic::new(loc, "unsupported type"));
    }
    let args: Vec<&Type> = match &last.arguments {
        PathArguments::None => Vec::new(),
        PathArguments::AngleBracketed(a) => {
            let mut types = Vec::new();
            for arg in &a.args {
                match arg {
                    GenericArgument::Type(t) => types.push(t),
                    other => {
                        return Err(Diagnostic::new(
                            Loc::of(other),
                            "only type arguments are supported here",
                        ))
                    }
                }
            }
            types
        }
        PathArguments::Parenthesized(_) => {
            return Err(Diagnostic::new(loc, "function types are not supported"))
        }
    };
    let arity = |n: usize, shape: &str| -> Result<(), Diagnostic> {
        if args.len() == n {
            Ok(())
        } else {
            Err(Diagnostic::new(
                loc,
                format!("`{head}` takes {n} type argument(s): write `{shape}`"),
            ))
        }
    };
    let scalar = |s: Scalar| -> Result<Ty, Diagnostic> {
        if args.is_empty() {
            Ok(Ty::Scalar(s, loc))
        } else {
            Err(Diagnostic::new(
                loc,
                format!("`{head}` takes no type arguments"),
            ))
        }
    };
    match head.as_str() {
        "String" => scalar(Scalar::String),
        "bool" => scalar(Scalar::Bool),
        "i32" => scalar(Scalar::I32),
        "i64" => scalar(Scalar::I64),
        "u32" => scalar(Scalar::U32),
        "u64" => scalar(Scalar::U64),
        "f32" => scalar(Scalar::F32),
        "f64" => scalar(Scalar::F64),
        "u8" | "i8" | "u16" | "i16" | "u128" | "i128" | "usize" | "isize" => Err(Diagnostic::new(
            loc,
            format!(
                "`{head}` is not supported: protobuf integers are `i32`, `i64`, `u32` or `u64` \
                 (`Vec<u8>` is bytes)"
            ),
        )),
        "char" => Err(Diagnostic::new(
            loc,
            "`char` is not supported: use `String` or `u32`",
        )),
        "str" => Err(Diagnostic::new(loc, "`str` is not supported: use `String`")),
        "Option" => {
            arity(1, "Option<T>")?;
            Ok(Ty::Option(Box::new(ty_shape(args[0])?), loc))
        }
        "Vec" => {
            arity(1, "Vec<T>")?;
            if is_u8(args[0]) {
                Ok(Ty::Scalar(Scalar::Bytes, loc))
            } else {
                Ok(Ty::Vec(Box::new(ty_shape(args[0])?), loc))
            }
        }
        "HashMap" => {
            arity(2, "HashMap<String, T>")?;
            Ok(Ty::Map(
                Box::new(ty_shape(args[0])?),
                Box::new(ty_shape(args[1])?),
                loc,
            ))
        }
        "Box" => {
            arity(1, "Box<T>")?;
            Ok(Ty::Boxed(Box::new(ty_shape(args[0])?), loc))
        }
        "Streaming" => {
            arity(1, "Streaming<T>")?;
            Ok(Ty::Streaming(Box::new(ty_shape(args[0])?), loc))
        }
        "HashSet" | "BTreeSet" | "VecDeque" | "LinkedList" | "BinaryHeap" => Err(Diagnostic::new(
            loc,
            format!("`{head}` is not supported: use `Vec<T>` (a protobuf repeated field)"),
        )),
        "BTreeMap" => Err(Diagnostic::new(
            loc,
            "`BTreeMap` is not supported: use `HashMap<String, T>` (a protobuf map)",
        )),
        _ if !args.is_empty() => Err(Diagnostic::new(
            loc,
            format!(
                "generic type `{head}<..>` is not supported: the generic types are `Option`, \
                 `Vec`, `HashMap`, `Box` and `Streaming`"
            ),
        )),
        _ => Ok(Ty::Named(Name {
            text: head,
            loc: Loc::of(&last.ident),
        })),
    }
}

fn is_u8(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("u8"))
}

/// The value of an integer discriminant literal, possibly negated.
fn discriminant(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<i64>().ok(),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => discriminant(expr).and_then(i64::checked_neg),
        Expr::Paren(p) => discriminant(&p.expr),
        Expr::Group(g) => discriminant(&g.expr),
        _ => None,
    }
}

fn path_text(path: &syn::Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// A short location for an unsupported item: its first line rather than its whole body.
fn item_head_loc(item: &Item) -> Loc {
    let loc = Loc::of(item);
    if loc.end_line == loc.line {
        loc
    } else {
        Loc {
            end_line: loc.line,
            end_column: usize::MAX,
            ..loc
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(source: &str) -> Vec<String> {
        match parse(source) {
            Ok(_) => Vec::new(),
            Err(diags) => diags.into_iter().map(|d| d.to_string()).collect(),
        }
    }

    #[test]
    fn reads_structs_enums_and_services() {
        let file = parse(
            r#"
            #![rpcnet(package = "demo")]
            //! File docs.
            use rpcnet::{Status, Streaming};
            /// A request.
            pub struct Req { pub name: String, #[rpcnet(tag = 7)] pub data: Vec<u8> }
            pub enum Kind { A, B = 3 }
            pub enum Payload { Text(String), Req(Req) }
            #[rpcnet::service]
            pub trait Svc {
                /// Calls.
                async fn call(&self, request: Streaming<Req>) -> Result<Req, Status>;
            }
            "#,
        );
        let Ok(file) = file else {
            panic!("parse failed: {file:?}");
        };
        assert_eq!(file.package.map(|p| p.0), Some("demo".to_string()));
        assert_eq!(file.docs, vec![" File docs.".to_string()]);
        assert_eq!(file.types.len(), 3);
        assert_eq!(file.services.len(), 1);
        assert_eq!(
            file.services[0].methods[0].docs,
            vec![" Calls.".to_string()]
        );
    }

    #[test]
    fn rejects_bad_shapes_with_locations() {
        let errs = errors("struct A { a: &str, b: (i32, i32), c: HashSet<String>, d: char }");
        assert_eq!(errs.len(), 4, "{errs:?}");
        assert!(errs[0].starts_with("1:15: error: references"), "{errs:?}");
    }

    #[test]
    fn collects_several_method_errors() {
        let errs = errors(
            "#[rpcnet::service] trait S { fn a(&self, r: A) -> Result<A, Status>; \
             async fn b(r: A) -> Result<A, Status>; async fn c(&self) -> A; }",
        );
        assert_eq!(errs.len(), 4, "{errs:?}");
    }

    #[test]
    fn not_rust_is_reported() {
        let errs = errors("struct {");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].contains("not valid Rust"), "{errs:?}");
    }
}
