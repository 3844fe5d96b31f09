//! Messages only: there is nothing to generate stubs for.
pub struct Request {
    pub name: String,
}
