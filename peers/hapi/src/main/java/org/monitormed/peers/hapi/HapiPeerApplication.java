package org.monitormed.peers.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import ca.uhn.fhir.jpa.subscription.match.config.SubscriptionProcessorConfig;
import ca.uhn.fhir.jpa.subscription.submit.config.SubscriptionSubmitterConfig;
import java.util.Map;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.context.annotation.Import;

/**
 * Runs a HAPI FHIR JPA server (FHIR R4, H2 database) at {@code /fhir} as MonitorMed's FHIR test
 * peer.
 *
 * <p>HAPI 8.x ships no runnable server on Maven Central, so this class assembles one from the
 * JPA and subscription modules. The imported configurations supply the DAOs, resource providers,
 * batch jobs and in-memory subscription channels; {@link FhirServerConfig} and {@link
 * FhirServletConfig} add the beans that HAPI leaves to the application.
 */
@SpringBootApplication(
    // These libraries arrive with HAPI, but Spring Boot would configure them too. Quartz: HAPI
    // runs its own scheduler. Thymeleaf: HAPI uses it only for narratives. Elasticsearch: the
    // client would poll localhost:9200, but this server searches with SQL only.
    excludeName = {
      "org.springframework.boot.autoconfigure.quartz.QuartzAutoConfiguration",
      "org.springframework.boot.autoconfigure.thymeleaf.ThymeleafAutoConfiguration",
      "org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchRestClientAutoConfiguration",
      "org.springframework.boot.autoconfigure.elasticsearch.ElasticsearchClientAutoConfiguration"
    })
@Import({
  JpaR4Config.class,
  HapiJpaConfig.class,
  ThreadPoolFactoryConfig.class,
  JpaBatch2Config.class,
  Batch2JobsConfig.class,
  SubscriptionSubmitterConfig.class,
  SubscriptionProcessorConfig.class,
  SubscriptionChannelConfig.class
})
public class HapiPeerApplication {

  public static void main(String[] args) {
    SpringApplication app = new SpringApplication(HapiPeerApplication.class);
    // Default properties rank below application.properties and the command line, so
    // --spring.datasource.url=... still overrides the choice made here.
    app.setDefaultProperties(Map.of("spring.datasource.url", datasourceUrl()));
    app.run(args);
  }

  /**
   * Returns the H2 JDBC URL: a file database at {@code $HAPI_H2_FILE} if that variable is set,
   * otherwise an in-memory database that lives until the JVM exits.
   */
  static String datasourceUrl() {
    String file = System.getenv("HAPI_H2_FILE");
    if (file != null && !file.isBlank()) {
      return "jdbc:h2:file:" + file;
    }
    // DB_CLOSE_DELAY=-1 keeps the database when the connection pool closes its last connection.
    return "jdbc:h2:mem:hapi;DB_CLOSE_DELAY=-1";
  }
}
