//! Doc comments on the file, services, methods, messages, fields, enums and variants are kept
//! in the Rust output and become `//` comments in the `.proto`.
//!
//! Blank doc lines survive too.
#![rpcnet(package = "docs")]
use rpcnet::{Status, Streaming};

/// A question.
///
/// Several paragraphs are fine.
pub struct Question {
    /// The text, in `markdown`.
    pub text: String,
    /** A block doc comment
    spanning two lines. */
    pub urgent: bool,
}

/// An answer.
pub struct Answer {
    /// Who answered.
    pub author: String,
    /// How sure they are.
    pub confidence: Confidence,
    /// Where it came from.
    pub source: Source,
}

/// How sure.
pub enum Confidence {
    /// Not said.
    Unspecified,
    /// Quite sure.
    High,
}

/// Provenance of an answer.
pub enum Source {
    /// Looked up at this URL.
    Url(String),
    /// Remembered.
    Memory(bool),
}

/// Answers questions.
///
/// The second paragraph of the service docs.
#[rpcnet::service]
pub trait Oracle {
    /// Asks one question.
    async fn ask(&self, request: Question) -> Result<Answer, Status>;
    /// Asks many questions and streams the answers.
    ///
    /// Answers come in question order.
    async fn ask_many(&self, request: Streaming<Question>) -> Result<Streaming<Answer>, Status>;
}
