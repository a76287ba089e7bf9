//! Runtime adapters: [`Spawner`](crate::rt::Spawner), [`Timer`](crate::rt::Timer) and
//! [`Dialer`](crate::rt::Dialer) for each supported runtime, each behind the Cargo feature
//! of the same name.
//!
//! | feature | module | sockets | notes |
//! |---|---|---|---|
//! | `tokio` | `tokio` | tokio's own `TcpStream` | no second reactor thread |
//! | `smol` | `smol` | async-net | |
//! | `async-std` | `async_std` | async-std's `TcpStream` | async-std was discontinued upstream in 2025 in favour of smol; this adapter stays thin |
//!
//! Each module offers a [`Runtime`](crate::rt::Runtime) constructor, and the three trait
//! implementations for use on their own.

#[cfg(feature = "async-std")]
pub mod async_std;
#[cfg(feature = "smol")]
pub mod smol;
#[cfg(feature = "tokio")]
pub mod tokio;
