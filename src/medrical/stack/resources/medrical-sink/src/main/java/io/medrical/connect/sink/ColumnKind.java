package io.medrical.connect.sink;

import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.util.Date;
import org.apache.kafka.connect.data.Schema;

/**
 * The column that holds a Connect field: the type Debezium's JDBC sink gives the same schema
 * (times in UTC), and how {@link CopyBinary} writes its values.
 */
enum ColumnKind {
    SMALLINT("smallint"),
    INTEGER("integer"),
    BIGINT("bigint"),
    REAL("real"),
    DOUBLE("double precision"),
    BOOLEAN("boolean"),
    TEXT("text"),
    BYTEA("bytea"),
    NUMERIC("numeric"),
    TIMESTAMP("timestamp"),
    DATE("date"),
    TIME("time");

    private static final char[] HEX = "0123456789abcdef".toCharArray();

    final String sqlType;

    ColumnKind(String sqlType) {
        this.sqlType = sqlType;
    }

    /**
     * Whether an existing column of {@code dataType} (as information_schema names it) reads this
     * kind's binary values as they are meant: binary COPY converts nothing.
     */
    boolean fits(String dataType) {
        switch (this) {
            case TIMESTAMP:
                // timestamptz has the same binary form: microseconds since 2000 in UTC.
                return dataType.startsWith("timestamp");
            case TIME:
                return dataType.equals("time without time zone");
            default:
                return dataType.equals(sqlType);
        }
    }

    /** The kind for a field's schema, or null for one no column can hold (struct, array, map). */
    static ColumnKind of(Schema schema) {
        String logical = schema.name();
        if (logical != null) {
            switch (logical) {
                case "org.apache.kafka.connect.data.Timestamp":
                    return TIMESTAMP;
                case "org.apache.kafka.connect.data.Date":
                    return DATE;
                case "org.apache.kafka.connect.data.Time":
                    return TIME;
                case "org.apache.kafka.connect.data.Decimal":
                    return NUMERIC;
                default:
                    break;
            }
        }
        switch (schema.type()) {
            case INT8:
            case INT16:
                return SMALLINT;
            case INT32:
                return INTEGER;
            case INT64:
                return BIGINT;
            case FLOAT32:
                return REAL;
            case FLOAT64:
                return DOUBLE;
            case BOOLEAN:
                return BOOLEAN;
            case STRING:
                return TEXT;
            case BYTES:
                return BYTEA;
            default:
                return null;
        }
    }

    /** The part of a primary key this value contributes, to find a key twice in one batch. */
    static String keyPart(Object value) {
        if (value instanceof Date) {
            return Long.toString(((Date) value).getTime());
        }
        if (value instanceof BigDecimal) {
            return ((BigDecimal) value).stripTrailingZeros().toPlainString(); // 1.0 = 1.00
        }
        if (value instanceof byte[] || value instanceof ByteBuffer) {
            StringBuilder out = new StringBuilder();
            appendBytes(out, value);
            return out.toString();
        }
        return String.valueOf(value);
    }

    private static void appendBytes(StringBuilder out, Object value) {
        ByteBuffer bytes = value instanceof ByteBuffer
                ? ((ByteBuffer) value).duplicate()
                : ByteBuffer.wrap((byte[]) value);
        while (bytes.hasRemaining()) {
            int b = bytes.get() & 0xff;
            out.append(HEX[b >>> 4]).append(HEX[b & 0xf]);
        }
    }
}
