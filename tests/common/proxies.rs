//! Real proxies for the proxy tests: tinyproxy (HTTP) and microsocks (SOCKS5), installed by
//! `scripts/test-servers-setup.sh` (the README's test command runs it first), each started
//! on 127.0.0.1 with a port of its own and a log the tests read to see that the traffic
//! went through it.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running proxy; killed when dropped.
pub struct RealProxy {
    pub port: u16,
    child: Child,
    dir: PathBuf,
    log: PathBuf,
    scheme: &'static str,
    credentials: Option<(&'static str, &'static str)>,
}

/// Percent-encodes what a URL's user info cannot hold as it is.
pub fn encode_userinfo(s: &str) -> String {
    s.replace('%', "%25")
        .replace('@', "%40")
        .replace(':', "%3A")
        .replace('/', "%2F")
}

/// What a tinyproxy is configured with.
#[derive(Default, Clone)]
pub struct TinyproxyConfig {
    /// `BasicAuth user password` (letters, digits, `.`, `-` and `_` only: tinyproxy's
    /// configuration syntax takes no other).
    pub credentials: Option<(&'static str, &'static str)>,
    /// `ConnectPort` lines: with any, `CONNECT` to other ports is refused (403), which
    /// blocks WebSockets (`ws://` goes through `CONNECT`) while forwarded plain-HTTP polling
    /// still works.
    pub connect_ports: Vec<u16>,
    /// A `Filter` of extended regular expressions over whole URLs (`FilterURLs On`):
    /// forwarded requests that match are refused with "403 Filtered"; `CONNECT`s are not
    /// filtered by URL.
    pub filter: Option<&'static str>,
}

/// Whether the listener behind `stream` answers as the proxy of `scheme` does: tinyproxy
/// names itself in its answer to a request it cannot serve (an origin-form `GET`, which
/// it logs as no `CONNECT` or forward of any target); a SOCKS5 proxy answers a greeting
/// with version 5.
fn answers_as_proxy(mut stream: TcpStream, scheme: &str) -> bool {
    use std::io::{Read, Write};
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut answer = Vec::new();
    if scheme == "http" {
        if stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
            return false;
        }
        let _ = stream.take(64 << 10).read_to_end(&mut answer);
        String::from_utf8_lossy(&answer)
            .to_ascii_lowercase()
            .contains("tinyproxy")
    } else {
        let mut reply = [0u8; 2];
        stream.write_all(&[5, 1, 0]).is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && reply[0] == 5
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

fn fresh_dir(what: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("engineio-{what}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    dir
}

fn find(program: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "{program} is not installed: run scripts/test-servers-setup.sh (the README's test \
             command does), or apt-get install tinyproxy microsocks"
        )
    })
}

impl RealProxy {
    /// A tinyproxy (HTTP proxy) on a free port.
    pub fn tinyproxy(config: TinyproxyConfig) -> RealProxy {
        let program = find("tinyproxy");
        let dir = fresh_dir("tinyproxy");
        let log = dir.join("tinyproxy.log");
        Self::start_retrying(dir, log.clone(), "http", config.credentials, |dir, port| {
            let mut conf = format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 600\nLogFile \"{}\"\nLogLevel Connect\n\
                 MaxClients 200\nAllow 127.0.0.1\n",
                log.display()
            );
            if let Some((user, password)) = config.credentials {
                conf.push_str(&format!("BasicAuth {user} {password}\n"));
            }
            for port in &config.connect_ports {
                conf.push_str(&format!("ConnectPort {port}\n"));
            }
            if let Some(filter) = config.filter {
                let path = dir.join("filter");
                std::fs::write(&path, format!("{filter}\n")).expect("the filter file");
                conf.push_str(&format!(
                    "Filter \"{}\"\nFilterURLs On\nFilterType ere\n",
                    path.display()
                ));
            }
            let path = dir.join("tinyproxy.conf");
            std::fs::write(&path, conf).expect("tinyproxy.conf");
            let mut cmd = Command::new(&program);
            cmd.arg("-d").arg("-c").arg(path);
            cmd
        })
    }

    /// A microsocks (SOCKS5 proxy) on a free port; `credentials` make it require RFC 1929
    /// authentication. `socks5h` names the proxy URL's scheme (the proxy resolves names).
    pub fn microsocks(
        credentials: Option<(&'static str, &'static str)>,
        socks5h: bool,
    ) -> RealProxy {
        let program = find("microsocks");
        let dir = fresh_dir("microsocks");
        let log = dir.join("microsocks.log");
        let scheme = if socks5h { "socks5h" } else { "socks5" };
        Self::start_retrying(dir, log.clone(), scheme, credentials, |_, port| {
            let mut cmd = Command::new(&program);
            cmd.args(["-i", "127.0.0.1", "-p", &port.to_string()]);
            if let Some((user, password)) = credentials {
                cmd.args(["-u", user, "-P", password]);
            }
            let out = std::fs::File::create(&log).expect("microsocks.log");
            let err = out.try_clone().expect("microsocks.log");
            cmd.stdout(out).stderr(err);
            cmd
        })
    }

    /// Starts the command `make` builds for a free port, and waits until the port
    /// accepts connections; tries another port if the proxy exits (it lost the port to
    /// another process between our check and its bind).
    fn start_retrying(
        dir: PathBuf,
        log: PathBuf,
        scheme: &'static str,
        credentials: Option<(&'static str, &'static str)>,
        make: impl Fn(&PathBuf, u16) -> Command,
    ) -> RealProxy {
        for _ in 0..5 {
            let port = free_port();
            let mut cmd = make(&dir, port);
            cmd.stdin(Stdio::null());
            if cmd.get_program().to_string_lossy().ends_with("tinyproxy") {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
            let mut child = cmd.spawn().expect("the proxy starts");
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
                    // The port was free a moment ago; another test's listener may have
                    // taken it since (and the proxy failed to bind): only the proxy's own
                    // answer proves it is ours.
                    if !answers_as_proxy(stream, scheme) {
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    return RealProxy {
                        port,
                        child,
                        dir,
                        log,
                        scheme,
                        credentials,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // exited: probably the port; try another
                }
                assert!(
                    Instant::now() < deadline,
                    "the proxy did not listen on {port} within 20 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("the proxy exited at start five times");
    }

    /// The proxy's URL, with its credentials (percent-encoded) if it has any.
    pub fn url(&self) -> String {
        match self.credentials {
            Some((user, password)) => self.url_with(user, password),
            None => format!("{}://127.0.0.1:{}", self.scheme, self.port),
        }
    }

    /// The proxy's URL without credentials.
    pub fn bare_url(&self) -> String {
        format!("{}://127.0.0.1:{}", self.scheme, self.port)
    }

    /// The proxy's URL with other credentials (percent-encoded here).
    pub fn url_with(&self, user: &str, password: &str) -> String {
        format!(
            "{}://{}:{}@127.0.0.1:{}",
            self.scheme,
            encode_userinfo(user),
            encode_userinfo(password),
            self.port
        )
    }

    /// The proxy's log so far.
    pub fn log(&self) -> String {
        let bytes = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// How many lines of the log mention `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for RealProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
