//! Messages inside messages: always present, optional, boxed (recursive), repeated and mapped.
#![rpcnet(package = "tree")]
use rpcnet::Status;

pub struct Point {
    pub x: f64,
    pub y: f64,
}

pub struct Rect {
    /// Always present: the generated field is a plain `Point`.
    pub top_left: Point,
    /// May be absent.
    pub bottom_right: Option<Point>,
}

/// A tree node: recursion goes through `Option<Box<_>>` or `Vec<_>`.
pub struct Node {
    pub name: String,
    pub bounds: Rect,
    pub parent: Option<Box<Node>>,
    pub children: Vec<Node>,
    pub by_name: HashMap<String, Node>,
}

pub struct Layout {
    pub root: Node,
    pub marks: Vec<Point>,
}

#[rpcnet::service]
pub trait Layouts {
    async fn normalize(&self, request: Layout) -> Result<Layout, Status>;
}
