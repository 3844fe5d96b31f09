//! Every scalar type, with and without `Option`, in `Vec`, and as map values.
#![rpcnet(package = "types")]
use rpcnet::Status;
use std::collections::HashMap;

pub struct Scalars {
    pub text: String,
    pub data: Vec<u8>,
    pub flag: bool,
    pub small: i32,
    pub large: i64,
    pub small_unsigned: u32,
    pub large_unsigned: u64,
    pub single: f32,
    pub double: f64,
}

pub struct Optionals {
    pub text: Option<String>,
    pub data: Option<Vec<u8>>,
    pub flag: Option<bool>,
    pub small: Option<i32>,
    pub large: Option<i64>,
    pub small_unsigned: Option<u32>,
    pub large_unsigned: Option<u64>,
    pub single: Option<f32>,
    pub double: Option<f64>,
}

pub struct Repeated {
    pub texts: Vec<String>,
    pub blobs: Vec<Vec<u8>>,
    pub flags: Vec<bool>,
    pub smalls: Vec<i32>,
    pub larges: Vec<i64>,
    pub small_unsigneds: Vec<u32>,
    pub large_unsigneds: Vec<u64>,
    pub singles: Vec<f32>,
    pub doubles: Vec<f64>,
}

pub struct Maps {
    pub texts: HashMap<String, String>,
    pub blobs: HashMap<String, Vec<u8>>,
    pub flags: HashMap<String, bool>,
    pub smalls: std::collections::HashMap<String, i32>,
    pub larges: HashMap<String, i64>,
    pub small_unsigneds: HashMap<String, u32>,
    pub large_unsigneds: HashMap<String, u64>,
    pub singles: HashMap<String, f32>,
    pub doubles: HashMap<String, f64>,
}

pub struct Everything {
    pub scalars: Scalars,
    pub optionals: Optionals,
    pub repeated: Repeated,
    pub maps: Maps,
}

#[rpcnet::service]
pub trait Echo {
    async fn echo(&self, request: Everything) -> Result<Everything, Status>;
}
