package io.medrical.connect.sink;

import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.AbstractConfig;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.common.config.ConfigDef.Importance;
import org.apache.kafka.common.config.ConfigDef.Type;
import org.apache.kafka.common.config.types.Password;

/** The settings of {@link CopySinkConnector}; the names follow Debezium's JDBC sink. */
final class CopySinkConfig extends AbstractConfig {

    static final String URL = "connection.url";
    static final String USERNAME = "connection.username";
    static final String PASSWORD = "connection.password";
    static final String PRIMARY_KEY_FIELDS = "primary.key.fields";
    static final String TABLE_FORMAT = "collection.name.format";
    static final String RETRY_BUDGET_MS = "medrical.retry.budget.ms";
    static final String RETRY_BACKOFF_MS = "medrical.retry.backoff.ms";

    static final ConfigDef DEF = new ConfigDef()
            .define(URL, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, Importance.HIGH,
                    "JDBC URL of the PostgreSQL database, e.g. jdbc:postgresql://host:5432/db")
            .define(USERNAME, Type.STRING, ConfigDef.NO_DEFAULT_VALUE, Importance.HIGH,
                    "Database user")
            .define(PASSWORD, Type.PASSWORD, "", Importance.HIGH, "Database password")
            .define(PRIMARY_KEY_FIELDS, Type.LIST, ConfigDef.NO_DEFAULT_VALUE,
                    Importance.HIGH,
                    "Fields of the record value that form each table's primary key; a record "
                            + "stored twice overwrites itself")
            .define(TABLE_FORMAT, Type.STRING, "${topic}", Importance.MEDIUM,
                    "Table name; ${topic} is replaced by the record's topic")
            .define(RETRY_BUDGET_MS, Type.LONG, 60_000L, ConfigDef.Range.atLeast(0),
                    Importance.MEDIUM,
                    "How long a batch is retried while the database is unreachable before the "
                            + "task fails")
            .define(RETRY_BACKOFF_MS, Type.LONG, 3_000L, ConfigDef.Range.atLeast(0),
                    Importance.LOW, "Pause between two attempts at a batch");

    CopySinkConfig(Map<String, String> props) {
        super(DEF, props);
    }

    String url() {
        return getString(URL);
    }

    String username() {
        return getString(USERNAME);
    }

    Password password() {
        return getPassword(PASSWORD);
    }

    List<String> primaryKeyFields() {
        return getList(PRIMARY_KEY_FIELDS);
    }

    String tableName(String topic) {
        return getString(TABLE_FORMAT).replace("${topic}", topic);
    }

    long retryBudgetMs() {
        return getLong(RETRY_BUDGET_MS);
    }

    long retryBackoffMs() {
        return getLong(RETRY_BACKOFF_MS);
    }
}
