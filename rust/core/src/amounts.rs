//! Amounts as a person reads them in a message.

/// `msat` as whole satoshis with thousands separators ("5,000 sat"), rounded up or down: a
/// fee shown rounded up and a limit rounded down never make a refusal read as "2,000 sat is
/// more than 2,000 sat".
pub(crate) fn sat_text(msat: u64, round_up: bool) -> String {
    let sat = if round_up { msat.div_ceil(1000) } else { msat / 1000 };
    format!("{} sat", grouped(sat))
}

/// `n` with thousands separators ("5,000").
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(digit);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::sat_text;

    #[test]
    fn sats_read_with_separators_and_round_the_asked_way() {
        assert_eq!(sat_text(0, true), "0 sat");
        assert_eq!(sat_text(999, false), "0 sat");
        assert_eq!(sat_text(999, true), "1 sat");
        assert_eq!(sat_text(5_000_000, true), "5,000 sat");
        assert_eq!(sat_text(123_456_789_000, false), "123,456,789 sat");
        assert_eq!(sat_text(2_000_500, true), "2,001 sat");
        assert_eq!(sat_text(2_000_500, false), "2,000 sat");
    }
}
