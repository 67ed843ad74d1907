//! The accept loop: `axum::serve` with the one thing it lacks, a time limit on request heads.
//! axum serves with hyper but sets no timer, so hyper's header read timeout never runs and a
//! client that sends half a request head and stalls holds its connection for ever. Here every
//! connection is served by hyper-util's builder with a Tokio timer and `header_read_timeout`
//! (a stalled head closes its connection; hyper applies the same limit to a keep-alive
//! connection idle between requests), each request carries its peer's address as
//! `ConnectInfo` as axum's serve gives it, and a shutdown lets in-flight requests finish.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the requests in flight.
/// A request head that takes longer than `header_timeout` to arrive closes its connection.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors or a connection reset before it was accepted: the
                // listener itself is fine; pause so a full descriptor table can drain.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let service = app
            .clone()
            .map_request(move |mut request: axum::http::Request<Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request.map(axum::body::Body::new)
            })
            .map_err(|never: Infallible| match never {});
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A connection's errors (a client gone, a head too slow or too large) end that
            // connection only; hyper has answered what can be answered.
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
