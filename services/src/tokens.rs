//! The token "model": a token is a deterministic function of (prompt, sequence number), so any
//! worker produces the same text for the same position and a resumed stream can be checked.

/// The vocabulary tokens are drawn from.
const WORDS: [&str; 32] = [
    "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "while", "quiet", "rivers",
    "carry", "bright", "stones", "past", "old", "mills", "and", "green", "hills", "under", "a",
    "silver", "moon", "where", "small", "birds", "sing", "soft", "songs", "of", "home",
];

/// The text of token number `sequence` (counted from 1) for `prompt`.
///
/// A 64-bit FNV-1a hash of the prompt and the sequence number picks a word, so neighbouring
/// positions rarely repeat and a token resent at the wrong position is likely to show.
pub fn token_text(prompt: &str, sequence: u64) -> String {
    let index = fnv1a(prompt.as_bytes(), sequence) % WORDS.len() as u64;
    // The index is below WORDS.len(), so it always fits and always indexes.
    WORDS[usize::try_from(index).unwrap_or(0)].to_owned()
}

/// FNV-1a over the prompt bytes, a separator and the sequence number's bytes.
fn fnv1a(prompt: &[u8], sequence: u64) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    prompt
        .iter()
        .copied()
        .chain([0xff])
        .chain(sequence.to_le_bytes())
        .fold(OFFSET, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_input_same_token() {
        assert_eq!(token_text("prompt-1", 7), token_text("prompt-1", 7));
    }

    #[test]
    fn tokens_vary_with_position_and_prompt() {
        let a: Vec<String> = (1..=20).map(|s| token_text("prompt-1", s)).collect();
        let b: Vec<String> = (1..=20).map(|s| token_text("prompt-2", s)).collect();
        assert_ne!(a, b);
        let distinct: std::collections::BTreeSet<&String> = a.iter().collect();
        assert!(distinct.len() > 5, "{a:?}");
    }
}
