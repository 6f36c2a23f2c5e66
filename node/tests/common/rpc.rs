//! A small JSON-RPC client over plain HTTP/1.1 on 127.0.0.1, enough for the node's RPC server.

use serde_json::{json, Value};
use std::{
	io::{Read, Write},
	net::TcpStream,
	time::Duration,
};

pub struct Client {
	port: u16,
}

impl Client {
	pub fn new(port: u16) -> Self {
		Client { port }
	}

	/// Call `method`; `Err` carries a transport error or the JSON-RPC error object.
	pub fn call(&self, method: &str, params: Value) -> Result<Value, String> {
		let body = json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params }).to_string();
		let mut stream = TcpStream::connect(("127.0.0.1", self.port)).map_err(|e| e.to_string())?;
		stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
		let request = format!(
			"POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\n\
			 Content-Length: {}\r\nConnection: close\r\n\r\n{}",
			self.port,
			body.len(),
			body
		);
		stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
		let mut raw = Vec::new();
		stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
		let text = String::from_utf8(raw).map_err(|e| e.to_string())?;
		let (head, body) = text.split_once("\r\n\r\n").ok_or("malformed HTTP response")?;
		let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
			dechunk(body)?
		} else {
			body.to_string()
		};
		let reply: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
		match reply.get("error") {
			Some(err) => Err(err.to_string()),
			None => Ok(reply["result"].clone()),
		}
	}
}

fn dechunk(mut body: &str) -> Result<String, String> {
	let mut out = String::new();
	loop {
		let (size, rest) = body.split_once("\r\n").ok_or("bad chunk")?;
		let size = usize::from_str_radix(size.trim(), 16).map_err(|e| e.to_string())?;
		if size == 0 {
			return Ok(out);
		}
		out.push_str(rest.get(..size).ok_or("short chunk")?);
		body = rest.get(size + 2..).ok_or("short chunk")?;
	}
}

/// A block number as the RPC reports it (`"0x1a"`).
pub fn parse_number(v: &Value) -> Option<u32> {
	u32::from_str_radix(v.as_str()?.trim_start_matches("0x"), 16).ok()
}

pub fn to_hex(bytes: &[u8]) -> String {
	let mut s = String::with_capacity(2 + bytes.len() * 2);
	s.push_str("0x");
	for b in bytes {
		s.push_str(&format!("{b:02x}"));
	}
	s
}

pub fn from_hex(s: &str) -> Vec<u8> {
	let s = s.trim_start_matches("0x");
	(0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex from the node")).collect()
}
