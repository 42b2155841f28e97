//! What every socket holds: a test that fails when `SocketInner` grows past
//! the figure documented in `bench/PROFILE.md`.

use super::SocketInner;

#[test]
fn socket_state_stays_within_its_documented_size() {
    let size = std::mem::size_of::<SocketInner>();
    println!("SocketInner: {size} bytes");
    assert!(
        size <= 616,
        "SocketInner grew to {size} bytes (documented: 616)"
    );
}
