//! A small W3C WebDriver client over `ureq`, enough to drive Debian's headless Chromium through
//! `/usr/bin/chromedriver`: sessions, navigation, elements, pointer actions, scripts, screenshots.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Why the browser tests cannot run here, if they cannot (CI installs both packages).
pub fn missing() -> Option<String> {
    [CHROMEDRIVER, CHROMIUM]
        .iter()
        .find(|p| !Path::new(p).exists())
        .map(|p| format!("{p} is missing (apt-get install -y chromium chromium-driver)"))
}

/// A child process killed when dropped.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `cmd` and reads its standard output until a line contains `listening on `; returns
/// the address that follows. Its standard output is drained afterwards so it never blocks.
pub fn start_server(mut cmd: Command) -> (Reaped, String) {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("start the server");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let child = Reaped(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the server printed no 'listening on' line within 60 s");
        let line = lines.next().expect("the server ended before listening").unwrap();
        if let Some(at) = line.find("listening on ") {
            let url = line[at + "listening on ".len()..].trim().trim_end_matches('/').to_string();
            std::thread::spawn(move || for _ in lines {});
            return (child, url);
        }
    }
}

pub struct Browser {
    agent: ureq::Agent,
    base: String,
    _driver: Reaped,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile.
    pub fn start(width: u32, height: u32) -> Browser {
        let port = free_port();
        let driver = Reaped(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start chromedriver"),
        );
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser { agent, base, _driver: driver, _profile: profile };
        let args = json!([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-proxy-server",
            "--disable-dev-shm-usage",
            "--force-device-scale-factor=1",
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", browser._profile.path().display()),
        ]);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let session = browser.send("POST", "/session", Some(caps));
        let id = session["sessionId"].as_str().expect("a session id").to_string();
        browser.base = format!("{}/session/{id}", browser.base);
        browser
    }

    fn send(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let resp = match method {
            "GET" => self.agent.get(&url).call(),
            "DELETE" => self.agent.delete(&url).call(),
            _ => self
                .agent
                .post(&url)
                .header("Content-Type", "application/json")
                .send(body.unwrap_or(json!({})).to_string()),
        };
        let mut resp = resp.unwrap_or_else(|e| panic!("WebDriver {method} {path}: {e}"));
        let status = resp.status();
        let text = resp.body_mut().with_config().limit(64 << 20).read_to_string().unwrap();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status.is_success(), "WebDriver {method} {path}: {status} {}", &text[..text.len().min(600)]);
        v["value"].clone()
    }

    pub fn goto(&self, url: &str) {
        self.send("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.send("POST", "/window/rect", Some(json!({"width": width, "height": height})));
    }

    /// Runs `script` (a function body; `arguments` holds `args`) and returns what it returns.
    pub fn js(&self, script: &str, args: Value) -> Value {
        self.send("POST", "/execute/sync", Some(json!({"script": script, "args": args})))
    }

    pub fn find(&self, css: &str) -> Value {
        self.send("POST", "/element", Some(json!({"using": "css selector", "value": css})))
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        let id = e[ELEMENT].as_str().unwrap().to_string();
        self.send("POST", &format!("/element/{id}/click"), None);
    }

    /// Keys sent to an element (which gets the focus); W3C codes such as `\u{E014}` (→) work.
    pub fn keys(&self, css: &str, text: &str) {
        let id = self.find(css)[ELEMENT].as_str().unwrap().to_string();
        self.send("POST", &format!("/element/{id}/value"), Some(json!({ "text": text })));
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css)[ELEMENT].as_str().unwrap().to_string();
        self.send("POST", &format!("/element/{id}/clear"), None);
        self.send("POST", &format!("/element/{id}/value"), Some(json!({ "text": text })));
    }

    /// A pointer (mouse, pen or touch) moves to each point (pixels from the element's top-left
    /// corner), pressed from the first to the last when `press`.
    pub fn pointer(&self, css: &str, kind: &str, points: &[(f64, f64)], press: bool) {
        let e = self.find(css);
        let rect = self
            .js("const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", json!([e]));
        let (w, h) = (rect[0].as_f64().unwrap(), rect[1].as_f64().unwrap());
        let mut actions = Vec::new();
        for (i, &(x, y)) in points.iter().enumerate() {
            // Offsets count from the element's centre.
            actions.push(json!({"type": "pointerMove", "origin": e, "duration": 16,
                "x": (x - w / 2.0).round() as i64, "y": (y - h / 2.0).round() as i64}));
            if press && i == 0 {
                actions.push(json!({"type": "pointerDown", "button": 0}));
            }
        }
        if press {
            actions.push(json!({"type": "pointerUp", "button": 0}));
        }
        let body = json!({"actions": [{"type": "pointer", "id": format!("{kind}-1"),
            "parameters": {"pointerType": kind}, "actions": actions}]});
        self.send("POST", "/actions", Some(body));
        self.send("DELETE", "/actions", None);
    }

    /// Waits until `script` returns something truthy (not null, false, 0 or ""), and returns it.
    pub fn wait_for(&self, what: &str, script: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.js(script, json!([]));
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() > deadline {
                let page = self.js("return document.body.innerText.slice(0, 2000)", json!([]));
                panic!("waited {secs} s for {what}; the page says:\n{}", page.as_str().unwrap_or(""));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The viewport as PNG bytes.
    pub fn screenshot(&self) -> Vec<u8> {
        decode_base64(self.send("GET", "/screenshot", None).as_str().unwrap())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.base).call();
    }
}

/// Standard base64 (what WebDriver screenshots and `canvas.toDataURL` give).
pub fn decode_base64(text: &str) -> Vec<u8> {
    let text = text.rsplit(',').next().unwrap();
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> =
        text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &d)| n | (d as u32) << (18 - 6 * i));
        out.extend(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}
