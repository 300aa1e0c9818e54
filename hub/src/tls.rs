//! HTTPS with rustls (ring provider, TLS 1.2 and 1.3): loading the PEM files and a listener that hands axum connections
//! whose handshake is done.
//!
//! Handshakes run in their own tasks with a deadline, so a client that connects and says nothing cannot stall the accept
//! loop, and a bounded number run at once.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::TlsConfig;
use crate::{Error, Result};

/// A client gets this long to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// At most this many handshakes run at once; further connections wait in the kernel's backlog.
const MAX_CONCURRENT_HANDSHAKES: usize = 1024;

/// Reads the certificate chain and key and builds the rustls server configuration.
pub(crate) fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor> {
    let certificates = read_certificates(&config.cert_path)?;
    check_key_is_private(&config.key_path)?;
    let key = PrivateKeyDer::from_pem_file(&config.key_path).map_err(|error| {
        Error::Config(format!(
            "cannot read a private key from {}: {error}",
            config.key_path.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::Config(format!("TLS protocol versions: {error}")))?
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .map_err(|error| {
            Error::Config(format!(
                "the TLS certificate {} and key {} do not work together: {error}",
                config.cert_path.display(),
                config.key_path.display()
            ))
        })?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// Refuses a private key that users other than the service's can read: mode 0600 or stricter, or (the Debian
/// `ssl-cert` convention, which PostgreSQL also accepts) 0640 or stricter when root owns it and a group is let in.
fn check_key_is_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).map_err(|error| {
        Error::Config(format!(
            "cannot read the private key {}: {error}",
            path.display()
        ))
    })?;
    let mode = metadata.mode() & 0o7777;
    let private = mode & 0o077 == 0 || (metadata.uid() == 0 && mode & 0o037 == 0);
    if !private {
        return Err(Error::Config(format!(
            "the private key {} has mode {mode:04o}, so other users can read it: make it private (chmod 600 {}) and start again",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let unreadable = |error: &dyn std::fmt::Display| {
        Error::Config(format!(
            "cannot read a certificate chain from {}: {error}",
            path.display()
        ))
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| unreadable(&error))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| unreadable(&error))?;
    if certificates.is_empty() {
        return Err(unreadable(&"the file holds no CERTIFICATE block"));
    }
    Ok(certificates)
}

/// Accepts TCP connections, runs their TLS handshakes, and yields the finished ones to `axum::serve`.
#[derive(Debug)]
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `listener` until `shutdown` is cancelled or the returned listener is dropped.
    pub(crate) fn spawn(
        listener: TcpListener,
        acceptor: TlsAcceptor,
        shutdown: CancellationToken,
    ) -> Result<Self> {
        let local_addr = listener
            .local_addr()
            .map_err(|error| Error::io("reading the listening address", error))?;
        let (sender, ready) = mpsc::channel(64);
        tokio::spawn(accept_loop(listener, acceptor, sender, shutdown));
        Ok(TlsListener { ready, local_addr })
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    shutdown: CancellationToken,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDSHAKES));
    loop {
        let permit = tokio::select! {
            () = shutdown.cancelled() => return,
            () = ready.closed() => return,
            permit = Arc::clone(&handshakes).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            () = ready.closed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    // Small frames (a keystroke, a sync reply) must not wait for delayed ACKs.
                    let _ = accepted.0.set_nodelay(true);
                    accepted
                }
                Err(error) => {
                    pause_after_accept_error(&error).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => {
                    // The server is gone when this fails; the connection is simply dropped.
                    let _ = ready.send((stream, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// Connection-level errors concern one client and are skipped at once; others (out of file descriptors) get a pause,
/// as axum's own listener does, so the loop does not spin.
async fn pause_after_accept_error(error: &std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop stopped because shutdown began; axum's graceful shutdown ends serving.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
