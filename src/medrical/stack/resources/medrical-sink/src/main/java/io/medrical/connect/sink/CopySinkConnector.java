package io.medrical.connect.sink;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.config.ConfigDef;
import org.apache.kafka.connect.connector.Task;
import org.apache.kafka.connect.sink.SinkConnector;

/**
 * A Kafka Connect sink that stores each topic in its own PostgreSQL table, upserting on a
 * primary key taken from the record value, one {@code COPY} per batch.
 *
 * <p>Why not only Debezium's JDBC sink: on a small machine its per-record work (binding each
 * field, checking each record for a table change, copying fields for filtering) bounds a
 * drain at about a tenth of what PostgreSQL's {@code COPY} takes in. This sink checks the
 * schema once per run of records that share it, writes the run as text into a temporary
 * staging table with one {@code COPY}, and moves it into the table with one
 * {@code INSERT ... ON CONFLICT DO UPDATE}, all in one transaction.
 */
public final class CopySinkConnector extends SinkConnector {

    private Map<String, String> props;

    @Override
    public String version() {
        return CopySinkTask.VERSION;
    }

    @Override
    public void start(Map<String, String> props) {
        new CopySinkConfig(props); // fail at once on a bad configuration
        this.props = Map.copyOf(props);
    }

    @Override
    public Class<? extends Task> taskClass() {
        return CopySinkTask.class;
    }

    @Override
    public List<Map<String, String>> taskConfigs(int maxTasks) {
        List<Map<String, String>> configs = new ArrayList<>(maxTasks);
        for (int i = 0; i < maxTasks; i++) {
            configs.add(props);
        }
        return configs;
    }

    @Override
    public void stop() {
    }

    @Override
    public ConfigDef config() {
        return CopySinkConfig.DEF;
    }
}
