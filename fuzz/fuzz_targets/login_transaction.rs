//! The login transaction carried through the browser. First byte even: the input is a sealed
//! transaction as it arrives (MAC check first). Odd: the rest is a JSON body sealed with the right
//! key, so the fuzzer reaches the decoder behind the MAC.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratchet_fuzz::TRANSACTION_KEY;
use ratchet_server::service::authorize::AuthorizationRequest;
use ratchet_server::service::signin::{open_transaction, seal_transaction};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let sealed = if mode & 1 == 0 {
        let Ok(s) = std::str::from_utf8(rest) else { return };
        s.to_string()
    } else {
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(rest) else { return };
        seal_transaction(&TRANSACTION_KEY, &json)
    };
    if let Some(tx) = open_transaction::<AuthorizationRequest>(&TRANSACTION_KEY, &sealed) {
        let resealed = seal_transaction(&TRANSACTION_KEY, &tx);
        assert!(open_transaction::<AuthorizationRequest>(&TRANSACTION_KEY, &resealed).is_some(), "a transaction re-opens");
    }
});
