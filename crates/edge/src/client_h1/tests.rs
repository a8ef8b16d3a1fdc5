use super::may_hold_head;

#[test]
fn a_head_is_looked_for_only_where_an_empty_line_can_end() {
    let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert!(may_hold_head(head, 0));
    // Fed byte by byte: only the byte that completes the empty line says "maybe".
    let maybe: Vec<usize> = (1..=head.len())
        .filter(|&n| may_hold_head(&head[..n], n - 1))
        .collect();
    assert_eq!(maybe, [head.len()]);
    assert!(may_hold_head(b"GET / HTTP/1.1\nHost: x\n\n", 0));
    assert!(!may_hold_head(b"GET / HTTP/1.1\r\nHost: x\r\n", 0));
    assert!(!may_hold_head(b"", 0));
}
