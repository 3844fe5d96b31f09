//! Emits one service module: name and path constants, the server trait and wrapper, the client.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::emit::doc_attrs;
use crate::model::{Method, Schema, Service};
use crate::names::rust_ident;

/// Tokens of a service module's body, its `//!` docs first: the whole of
/// `<stem>/<service>/mod.rs`, or the inside of an inline `pub mod <service> { ... }`.
pub fn module(schema: &Schema, service: &Service) -> TokenStream {
    let qualified = schema.qualified_name(service);
    let title = format!(" Client and server stubs for `{qualified}`.");
    let source = format!(" Generated from `{}`.", schema.source);
    let constants = constants(schema, service);
    let server = server(service);
    let client = client(service);
    quote! {
        #![doc = #title]
        #![doc = ""]
        #![doc = #source]
        #constants
        #server
        #client
    }
}

fn constants(schema: &Schema, service: &Service) -> TokenStream {
    let qualified = schema.qualified_name(service);
    let paths = service.methods.iter().map(|m| {
        let name = format_ident!("{}", m.path_const);
        let path = schema.method_path(service, m);
        let doc = format!(" Wire path of `{}::{}`.", service.name, m.name);
        quote! {
            #[doc = #doc]
            pub const #name: &str = #path;
        }
    });
    quote! {
        /// Fully qualified protobuf name of the service, `<package>.<Service>`.
        pub const SERVICE_NAME: &str = #qualified;
        #(#paths)*
    }
}

/// The four call kinds, named after the rpcnet adapter and client method for each.
fn kind(m: &Method) -> proc_macro2::Ident {
    let name = match (m.client_streaming, m.server_streaming) {
        (false, false) => "unary",
        (false, true) => "server_streaming",
        (true, false) => "client_streaming",
        (true, true) => "bidi_streaming",
    };
    format_ident!("{}", name)
}

/// The method's docs, or a line naming the RPC and its kind when the definition has none.
fn method_docs(m: &Method) -> TokenStream {
    if !m.docs.is_empty() {
        return doc_attrs(&m.docs);
    }
    let kind = match (m.client_streaming, m.server_streaming) {
        (false, false) => "unary",
        (false, true) => "server streaming",
        (true, false) => "client streaming",
        (true, true) => "bidirectional streaming",
    };
    doc_attrs(&[format!(" The `{}` RPC ({kind}).", m.wire_name)])
}

/// A request or response type as seen from the service module: `super::Msg`, or
/// `super::outer::Inner` for a nested `.proto` message (prost-build's path, whose segments may
/// already be raw).
fn message(path: &str) -> TokenStream {
    let segments = path
        .split("::")
        .map(|segment| rust_ident(segment.strip_prefix("r#").unwrap_or(segment)));
    quote!(super::#(#segments)::*)
}

fn server(service: &Service) -> TokenStream {
    let trait_name = rust_ident(&service.name);
    let server_name = format_ident!("{}Server", service.name);
    let trait_docs = doc_attrs(&service.docs);
    let trait_note = format!(
        " Implement this trait (its methods can be written as `async fn`) and serve it with \
         [`{server_name}`]."
    );
    let trait_sep = if service.docs.is_empty() {
        quote!()
    } else {
        quote!(#[doc = ""])
    };
    let trait_methods = service.methods.iter().map(|m| {
        let name = rust_ident(&m.name);
        let docs = method_docs(m);
        let req = message(&m.request);
        let resp = message(&m.response);
        let request = if m.client_streaming {
            quote!(rpcnet::codegen::Request<rpcnet::codegen::Streaming<#req>>)
        } else {
            quote!(rpcnet::codegen::Request<#req>)
        };
        let response = if m.server_streaming {
            quote!(rpcnet::codegen::Response<rpcnet::codegen::ResponseStream<#resp>>)
        } else {
            quote!(rpcnet::codegen::Response<#resp>)
        };
        quote! {
            #docs
            fn #name(
                &self,
                ctx: rpcnet::codegen::RequestContext,
                request: #request,
            ) -> impl rpcnet::codegen::Future<
                Output = Result<#response, rpcnet::codegen::Status>,
            > + Send;
        }
    });
    let arms = service.methods.iter().map(|m| {
        let wire = m.wire_name.as_str();
        let name = rust_ident(&m.name);
        let adapter = kind(m);
        let req = message(&m.request);
        let request = if m.client_streaming {
            quote!(rpcnet::codegen::Request<rpcnet::codegen::Streaming<#req>>)
        } else {
            quote!(rpcnet::codegen::Request<#req>)
        };
        quote! {
            #wire => {
                let inner = self.inner.clone();
                rpcnet::codegen::#adapter(
                    call,
                    move |ctx: rpcnet::codegen::RequestContext, request: #request| async move {
                        inner.#name(ctx, request).await
                    },
                )
            }
        }
    });
    let server_doc = format!(
        " Serves a [`{trait_name}`] implementation: pass it to rpcnet's \
         `ServerBuilder::add_service`."
    );
    quote! {
        #trait_docs
        #trait_sep
        #[doc = #trait_note]
        pub trait #trait_name: Send + Sync + 'static {
            #(#trait_methods)*
        }

        #[doc = #server_doc]
        pub struct #server_name<T> {
            inner: rpcnet::codegen::Arc<T>,
        }

        impl<T: #trait_name> #server_name<T> {
            /// Wraps an implementation.
            pub fn new(inner: T) -> Self {
                Self { inner: rpcnet::codegen::Arc::new(inner) }
            }

            /// Wraps an implementation that is shared with other code.
            pub fn from_arc(inner: rpcnet::codegen::Arc<T>) -> Self {
                Self { inner }
            }
        }

        impl<T> Clone for #server_name<T> {
            fn clone(&self) -> Self {
                Self { inner: self.inner.clone() }
            }
        }

        impl<T: #trait_name> rpcnet::codegen::Service for #server_name<T> {
            fn name(&self) -> &'static str {
                SERVICE_NAME
            }

            fn call(
                &self,
                method: &str,
                call: rpcnet::codegen::ServerCall,
            ) -> rpcnet::codegen::BoxFuture<'static, ()> {
                match method {
                    #(#arms)*
                    _ => rpcnet::codegen::unimplemented(call),
                }
            }
        }
    }
}

fn client(service: &Service) -> TokenStream {
    let client_name = format_ident!("{}Client", service.name);
    let docs = doc_attrs(&service.docs);
    let sep = if service.docs.is_empty() {
        quote!()
    } else {
        quote!(#[doc = ""])
    };
    let note = format!(
        " Client of `{}`: one method per RPC. Clones share one connection. Give a call a \
         deadline with `Request::with_timeout` and metadata with `Request::metadata_mut`.",
        service.name
    );
    let methods = service.methods.iter().map(client_method);
    quote! {
        #docs
        #sep
        #[doc = #note]
        #[derive(Clone)]
        pub struct #client_name {
            inner: rpcnet::codegen::Client,
        }

        impl #client_name {
            /// Uses an existing connection.
            pub fn new(inner: rpcnet::codegen::Client) -> Self {
                Self { inner }
            }

            /// Connects to `addr` over the transport `config` chooses (handshake and TLS verification included).
            pub async fn connect(
                addr: rpcnet::codegen::SocketAddr,
                config: rpcnet::codegen::ClientConfig,
            ) -> Result<Self, rpcnet::codegen::Error> {
                Ok(Self::new(rpcnet::codegen::Client::connect(addr, config).await?))
            }

            /// The underlying connection.
            pub fn inner(&self) -> &rpcnet::codegen::Client {
                &self.inner
            }

            #(#methods)*
        }
    }
}

fn client_method(m: &Method) -> TokenStream {
    let name = rust_ident(&m.name);
    let docs = method_docs(m);
    let path = format_ident!("{}", m.path_const);
    let adapter = kind(m);
    let req = message(&m.request);
    let resp = message(&m.response);
    let response = if m.server_streaming {
        quote!(rpcnet::codegen::Response<rpcnet::codegen::Streaming<#resp>>)
    } else {
        quote!(rpcnet::codegen::Response<#resp>)
    };
    if m.client_streaming {
        quote! {
            #docs
            pub async fn #name(
                &self,
                request: impl rpcnet::codegen::IntoStreamingRequest<Message = #req>,
            ) -> Result<#response, rpcnet::codegen::Status> {
                self.inner.#adapter(#path, request.into_streaming_request()).await
            }
        }
    } else {
        quote! {
            #docs
            pub async fn #name(
                &self,
                request: impl Into<rpcnet::codegen::Request<#req>>,
            ) -> Result<#response, rpcnet::codegen::Status> {
                self.inner.#adapter(#path, request.into()).await
            }
        }
    }
}
