//! Checks made before the node starts any service: every port it was told to listen on must be
//! free. Substrate would otherwise move RPC to a random port, or start without a p2p listener,
//! and an operator would find out only when nothing can reach the node.

use sc_service::Configuration;
use std::net::{IpAddr, SocketAddr, TcpListener};

fn ensure_free(addr: SocketAddr, what: &str, flag: &str) -> Result<(), String> {
	match TcpListener::bind(addr) {
		Ok(_) => Ok(()),
		Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => Err(format!(
			"the {what} port {} on {} is already in use (another node running?); \
			 stop that process or choose another port with {flag}",
			addr.port(),
			addr.ip()
		)),
		// An address this host does not have, or no IPv6: the service reports it itself.
		Err(_) => Ok(()),
	}
}

/// The TCP socket address of a `/ip4|ip6/<addr>/tcp/<port>` multiaddress.
fn tcp_socket(multiaddr: &str) -> Option<SocketAddr> {
	let parts: Vec<&str> = multiaddr.split('/').collect();
	let ip: IpAddr = match parts.as_slice() {
		["", "ip4", ip, "tcp", _, ..] | ["", "ip6", ip, "tcp", _, ..] => ip.parse().ok()?,
		_ => return None,
	};
	let port: u16 = parts.get(4)?.parse().ok()?;
	(port != 0).then_some(SocketAddr::new(ip, port))
}

/// Refuse to start when an RPC, Prometheus or p2p port is taken, and make the RPC server bind
/// exactly the configured port instead of falling back to a random one.
pub fn claim_ports(config: &mut Configuration) -> Result<(), String> {
	for endpoint in config.rpc.addr.iter_mut().flatten() {
		endpoint.retry_random_port = false;
		if !endpoint.is_optional {
			ensure_free(endpoint.listen_addr, "RPC", "--rpc-port")?;
		}
	}
	if let Some(prometheus) = &config.prometheus_config {
		ensure_free(prometheus.port, "Prometheus", "--prometheus-port")?;
	}
	for listen in &config.network.listen_addresses {
		if let Some(addr) = tcp_socket(&listen.to_string()) {
			ensure_free(addr, "p2p", "--port or --listen-addr")?;
		}
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn tcp_socket_of_multiaddrs() {
		assert_eq!(tcp_socket("/ip4/127.0.0.1/tcp/30333"), Some("127.0.0.1:30333".parse().unwrap()));
		assert_eq!(tcp_socket("/ip6/::1/tcp/30333/ws"), Some("[::1]:30333".parse().unwrap()));
		assert_eq!(tcp_socket("/ip4/0.0.0.0/tcp/0"), None);
		assert_eq!(tcp_socket("/dns/example.com/tcp/1"), None);
		assert_eq!(tcp_socket("/ip4/127.0.0.1/udp/30333/quic"), None);
	}

	#[test]
	fn taken_port_is_reported_with_the_flag_to_change() {
		let taken = TcpListener::bind("127.0.0.1:0").unwrap();
		let addr = taken.local_addr().unwrap();
		let err = ensure_free(addr, "RPC", "--rpc-port").unwrap_err();
		assert!(err.contains("already in use") && err.contains("--rpc-port"), "{err}");
		drop(taken);
		assert_eq!(ensure_free(addr, "RPC", "--rpc-port"), Ok(()));
	}
}
