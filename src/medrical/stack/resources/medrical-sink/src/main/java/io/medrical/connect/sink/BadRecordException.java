package io.medrical.connect.sink;

/** A record this sink can never store as it is (not a struct, a key field missing or null). */
final class BadRecordException extends Exception {
    private static final long serialVersionUID = 1L;

    BadRecordException(String message) {
        super(message);
    }
}
