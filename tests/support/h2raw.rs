//! HTTP/2 frames by hand, for clients that misbehave on purpose (a preface
//! alone, an idle connection, a window that never opens): just enough of
//! RFC 9113 and RFC 7541 (HPACK, static-table names, no Huffman).

use tokio::io::{AsyncRead, AsyncReadExt};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
pub const DATA: u8 = 0;
pub const HEADERS: u8 = 1;
pub const SETTINGS: u8 = 4;
pub const PING: u8 = 6;
pub const GOAWAY: u8 = 7;
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
/// SETTINGS_INITIAL_WINDOW_SIZE.
pub const INITIAL_WINDOW_SIZE: u16 = 0x4;

pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let payload: Vec<u8> = pairs
        .iter()
        .flat_map(|(id, v)| id.to_be_bytes().into_iter().chain(v.to_be_bytes()))
        .collect();
    frame(SETTINGS, 0, 0, &payload)
}

/// The client's opening: the preface and its SETTINGS.
pub fn opening(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut out = PREFACE.to_vec();
    out.extend(settings(pairs));
    out
}

fn literal(out: &mut Vec<u8>, value: &str) {
    assert!(value.len() < 127);
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
}

/// HEADERS (END_HEADERS) of `POST path` with a JSON body of `length` bytes.
pub fn post_headers(stream: u32, path: &str, length: usize) -> Vec<u8> {
    // :method POST (static 3), :scheme https (static 7): indexed.
    let mut block = vec![0x83, 0x87];
    // Literals without indexing, names from the static table: :path (4),
    // :authority (1), content-type (31), content-length (28).
    block.push(0x04);
    literal(&mut block, path);
    block.push(0x01);
    literal(&mut block, "localhost");
    block.extend([0x0f, 31 - 15]);
    literal(&mut block, "application/json");
    block.extend([0x0f, 28 - 15]);
    literal(&mut block, &length.to_string());
    frame(HEADERS, END_HEADERS, stream, &block)
}

/// One frame: (type, flags, stream, payload); `None` at the end of the
/// connection (EOF or an error).
pub async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> Option<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0u8; 9];
    r.read_exact(&mut head).await.ok()?;
    let len = (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await.ok()?;
    Some((head[3], head[4], stream, payload))
}

pub const RST_STREAM: u8 = 3;
/// RST_STREAM's CANCEL error code.
const CANCEL: u32 = 0x8;

/// A client that never sends a body: `streams` POSTs to `path` announcing
/// `length` bytes each with `content-length`, and not one byte of them.
/// Each stream the server ends (its answer's END_STREAM, or RST_STREAM) is
/// closed and opened anew, so `streams` stay open until `until` or the end
/// of the connection. SETTINGS and PINGs are acknowledged, as a live client
/// would. Returns how many of its streams the server ended.
pub async fn headers_only<S>(tls: &mut S, streams: u32, path: &str, length: usize, until: std::time::Instant) -> u64
where
    S: AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    let mut open = std::collections::BTreeSet::new();
    let mut next_id = 1u32;
    let mut out = opening(&[]);
    for _ in 0..streams {
        out.extend(post_headers(next_id, path, length));
        open.insert(next_id);
        next_id += 2;
    }
    if tls.write_all(&out).await.is_err() {
        return 0;
    }
    let mut ended = 0;
    let deadline = tokio::time::Instant::from_std(until);
    while let Ok(Some((kind, flags, stream, payload))) = tokio::time::timeout_at(deadline, read_frame(tls)).await {
        let reply = match (kind, flags) {
            (SETTINGS, f) if f & ACK == 0 => frame(SETTINGS, ACK, 0, &[]),
            (PING, f) if f & ACK == 0 => frame(PING, ACK, 0, &payload),
            (GOAWAY, _) => break,
            (HEADERS | DATA, f) if f & END_STREAM != 0 && open.remove(&stream) => {
                ended += 1;
                let mut r = frame(RST_STREAM, 0, stream, &CANCEL.to_be_bytes());
                r.extend(post_headers(next_id, path, length));
                open.insert(next_id);
                next_id += 2;
                r
            }
            (RST_STREAM, _) if open.remove(&stream) => {
                ended += 1;
                let r = post_headers(next_id, path, length);
                open.insert(next_id);
                next_id += 2;
                r
            }
            _ => continue,
        };
        if tls.write_all(&reply).await.is_err() {
            break;
        }
    }
    ended
}
