package io.medrical.connect.sink;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Date;

/**
 * Rows in PostgreSQL's binary {@code COPY} format: what the server reads with the least work
 * (no text to parse into numbers and timestamps).
 */
final class CopyBinary {

    private static final byte[] SIGNATURE = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', (byte) 0xff, '\r', '\n', 0};
    /** 2000-01-01T00:00:00Z, PostgreSQL's epoch for dates and timestamps. */
    private static final long PG_EPOCH_MS = 946_684_800_000L;
    private static final long MS_PER_DAY = 86_400_000L;
    private static final short NUMERIC_NEGATIVE = 0x4000;

    private byte[] buffer;
    private int length;

    CopyBinary(int sizeHint) {
        buffer = new byte[Math.max(64, sizeHint)];
        put(SIGNATURE);
        putInt(0); // flags
        putInt(0); // header extension
    }

    void startRow(int fields) {
        putShort((short) fields);
    }

    void putNull() {
        putInt(-1);
    }

    /** One field of {@code kind}; {@code value} is never null. */
    void put(ColumnKind kind, Object value) {
        switch (kind) {
            case TEXT:
                byte[] text = value.toString().getBytes(StandardCharsets.UTF_8);
                putInt(text.length);
                put(text);
                break;
            case BOOLEAN:
                putInt(1);
                ensure(1);
                buffer[length++] = (byte) (((Boolean) value) ? 1 : 0);
                break;
            case SMALLINT:
                putInt(2);
                putShort(((Number) value).shortValue());
                break;
            case INTEGER:
                putInt(4);
                putInt(((Number) value).intValue());
                break;
            case BIGINT:
                putInt(8);
                putLong(((Number) value).longValue());
                break;
            case REAL:
                putInt(4);
                putInt(Float.floatToIntBits(((Number) value).floatValue()));
                break;
            case DOUBLE:
                putInt(8);
                putLong(Double.doubleToLongBits(((Number) value).doubleValue()));
                break;
            case TIMESTAMP:
                putInt(8);
                putLong((((Date) value).getTime() - PG_EPOCH_MS) * 1000L);
                break;
            case DATE:
                putInt(4);
                putInt((int) Math.floorDiv(((Date) value).getTime() - PG_EPOCH_MS, MS_PER_DAY));
                break;
            case TIME:
                putInt(8);
                putLong(Math.floorMod(((Date) value).getTime(), MS_PER_DAY) * 1000L);
                break;
            case BYTEA:
                ByteBuffer bytes = value instanceof ByteBuffer
                        ? ((ByteBuffer) value).duplicate()
                        : ByteBuffer.wrap((byte[]) value);
                putInt(bytes.remaining());
                ensure(bytes.remaining());
                int n = bytes.remaining();
                bytes.get(buffer, length, n);
                length += n;
                break;
            case NUMERIC:
                putNumeric((BigDecimal) value);
                break;
            default:
                throw new IllegalStateException(kind.name());
        }
    }

    /** The rows with the trailer; the encoder is spent afterwards. */
    byte[] finish() {
        putShort((short) -1);
        return Arrays.copyOf(buffer, length);
    }

    int size() {
        return length;
    }

    /**
     * numeric's binary form: base-10000 digits, the weight of the first, the sign and the
     * number of decimal digits after the point.
     */
    private void putNumeric(BigDecimal value) {
        BigDecimal plain = value.scale() < 0 ? value.setScale(0) : value;
        int scale = plain.scale();
        String digits = plain.unscaledValue().abs().toString();
        String whole;
        String fraction;
        if (digits.length() > scale) {
            whole = digits.substring(0, digits.length() - scale);
            fraction = digits.substring(digits.length() - scale);
        } else {
            whole = "0";
            fraction = "0".repeat(scale - digits.length()) + digits;
        }
        whole = "0".repeat((4 - whole.length() % 4) % 4) + whole;
        fraction = fraction + "0".repeat((4 - fraction.length() % 4) % 4);
        int wholeGroups = whole.length() / 4;
        int count = wholeGroups + fraction.length() / 4;
        short[] groups = new short[count];
        String all = whole + fraction;
        for (int i = 0; i < count; i++) {
            groups[i] = Short.parseShort(all.substring(4 * i, 4 * i + 4));
        }
        int first = 0;
        while (first < count && groups[first] == 0) {
            first++;
        }
        int last = count;
        while (last > first && groups[last - 1] == 0) {
            last--;
        }
        int ndigits = last - first;
        int weight = ndigits == 0 ? 0 : wholeGroups - 1 - first;
        boolean negative = plain.signum() < 0 && ndigits > 0;
        putInt(8 + 2 * ndigits);
        putShort((short) ndigits);
        putShort((short) weight);
        putShort(negative ? NUMERIC_NEGATIVE : 0);
        putShort((short) scale);
        for (int i = first; i < last; i++) {
            putShort(groups[i]);
        }
    }

    private void put(byte[] bytes) {
        ensure(bytes.length);
        System.arraycopy(bytes, 0, buffer, length, bytes.length);
        length += bytes.length;
    }

    private void putShort(short value) {
        ensure(2);
        buffer[length++] = (byte) (value >>> 8);
        buffer[length++] = (byte) value;
    }

    private void putInt(int value) {
        ensure(4);
        buffer[length++] = (byte) (value >>> 24);
        buffer[length++] = (byte) (value >>> 16);
        buffer[length++] = (byte) (value >>> 8);
        buffer[length++] = (byte) value;
    }

    private void putLong(long value) {
        putInt((int) (value >>> 32));
        putInt((int) value);
    }

    private void ensure(int more) {
        if (length + more > buffer.length) {
            buffer = Arrays.copyOf(buffer, Math.max(buffer.length * 2, length + more));
        }
    }
}
