//! prost-build's service hook: each `.proto` service becomes a [`model::Service`], so the same
//! emitter as for `.rpc.rs` input writes its stubs.

use std::cell::RefCell;
use std::rc::Rc;

use crate::model;
use crate::names;

/// A [`prost_build::ServiceGenerator`] that writes nothing into prost-build's buffer and
/// collects every service, in file order, for the layout to place.
pub(super) struct Collect(pub(super) Rc<RefCell<Vec<model::Service>>>);

impl prost_build::ServiceGenerator for Collect {
    fn generate(&mut self, service: prost_build::Service, _buf: &mut String) {
        self.0.borrow_mut().push(service_model(service));
    }
}

/// The model of a prost-build service: its Rust names are prost-build's (UpperCamel trait,
/// snake case methods), its wire names as written in the `.proto`.
pub(super) fn service_model(service: prost_build::Service) -> model::Service {
    model::Service {
        module: names::service_module_name(&service.name),
        docs: docs(&service.comments),
        methods: service.methods.into_iter().map(method_model).collect(),
        wire_name: service.proto_name,
        name: service.name,
    }
}

fn method_model(method: prost_build::Method) -> model::Method {
    // The model holds names unraw; the emitter adds `r#` where Rust needs it.
    let name = method
        .name
        .strip_prefix("r#")
        .unwrap_or(&method.name)
        .to_owned();
    model::Method {
        path_const: names::path_const_name(&name),
        docs: docs(&method.comments),
        request: method.input_type,
        response: method.output_type,
        client_streaming: method.client_streaming,
        server_streaming: method.server_streaming,
        wire_name: method.proto_name,
        name,
    }
}

/// Doc lines from `.proto` comments: the leading comment, then the trailing one after a blank
/// line (as prost-build documents messages). Each line keeps one leading space, so
/// `// Text` and `//Text` both read ` Text`.
fn docs(comments: &prost_build::Comments) -> Vec<String> {
    let mut lines: Vec<&String> = comments.leading.iter().collect();
    let blank = String::new();
    if !comments.leading.is_empty() && !comments.trailing.is_empty() {
        lines.push(&blank);
    }
    lines.extend(&comments.trailing);
    lines
        .into_iter()
        .map(|line| {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with(' ') {
                line.to_owned()
            } else {
                format!(" {line}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn method(name: &str, proto_name: &str) -> prost_build::Method {
        prost_build::Method {
            name: name.into(),
            proto_name: proto_name.into(),
            comments: prost_build::Comments::default(),
            input_type: "outer::Inner".into(),
            output_type: "Reply".into(),
            input_proto_type: ".p.Outer.Inner".into(),
            output_proto_type: ".p.Reply".into(),
            options: Default::default(),
            client_streaming: true,
            server_streaming: false,
        }
    }

    #[test]
    fn names_come_from_prost_build_and_wire_names_from_the_proto() {
        let service = prost_build::Service {
            name: "TestService".into(),
            proto_name: "test_service".into(),
            package: "p".into(),
            comments: prost_build::Comments {
                leading: vec![" Tests.".into(), "no space".into()],
                trailing: vec![" After.".into()],
                ..Default::default()
            },
            methods: vec![method("r#type", "Type"), method("unary_call", "UnaryCall")],
            options: Default::default(),
        };
        let model = service_model(service);
        assert_eq!(model.name, "TestService");
        assert_eq!(model.wire_name, "test_service");
        assert_eq!(model.module, "testservice");
        assert_eq!(model.docs, [" Tests.", " no space", "", " After."]);
        let m = &model.methods[0];
        assert_eq!((m.name.as_str(), m.wire_name.as_str()), ("type", "Type"));
        assert_eq!(m.path_const, "TYPE_PATH");
        assert_eq!(m.request, "outer::Inner");
        assert!(m.client_streaming && !m.server_streaming);
        assert_eq!(model.methods[1].path_const, "UNARY_CALL_PATH");
    }
}
