//! Both enum kinds: C-like enums (protobuf enums) and data-carrying enums (protobuf oneofs).
#![rpcnet(package = "events")]
use rpcnet::{Status, Streaming};

/// Severity of an event.
pub enum Level {
    /// The default: protobuf needs a zero value first.
    Unspecified = 0,
    Info,
    Warning = 5,
    Error,
    /// Negative values are allowed.
    Debug = -1,
}

pub enum Channel {
    Unknown,
    Email,
    Sms,
}

pub struct Attachment {
    pub name: String,
    pub data: Vec<u8>,
}

/// What an event carries: exactly one of these.
pub enum Body {
    Text(String),
    Raw(Vec<u8>),
    Count(u64),
    Severity(Level),
    Attachment(Attachment),
    /// A nested event, boxed because `Event` contains `Body`.
    Reply(Box<Event>),
}

pub struct Event {
    pub id: u64,
    pub level: Level,
    pub previous_level: Option<Level>,
    pub channels: Vec<Channel>,
    pub per_user: HashMap<String, Level>,
    pub body: Body,
    /// A oneof may also be written as `Option<Enum>`; it means the same.
    pub route: Option<Route>,
}

pub enum Route {
    Topic(String),
    User(u64),
}

pub struct Ack {
    pub accepted: bool,
}

#[rpcnet::service]
pub trait Events {
    async fn publish(&self, request: Streaming<Event>) -> Result<Ack, Status>;
    async fn subscribe(&self, request: Ack) -> Result<Streaming<Event>, Status>;
}
