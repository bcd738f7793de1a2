package org.monitormed.peers.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.DatabaseBinaryContentStorageSvcImpl;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import ca.uhn.fhir.jpa.subscription.match.deliver.email.IEmailSender;
import jakarta.persistence.EntityManagerFactory;
import java.util.HashMap;
import java.util.Map;
import javax.sql.DataSource;
import org.hl7.fhir.dstu2.model.Subscription.SubscriptionChannelType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.boot.autoconfigure.orm.jpa.JpaProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;
import org.springframework.transaction.annotation.EnableTransactionManagement;

/** Storage, persistence and subscription beans that HAPI's JPA modules expect the app to define. */
@Configuration
@EnableTransactionManagement
public class FhirServerConfig {

  private static final Logger log = LoggerFactory.getLogger(FhirServerConfig.class);

  @Bean
  public JpaStorageSettings jpaStorageSettings() {
    JpaStorageSettings settings = new JpaStorageSettings();
    // Transaction bundles may refer to a patient by match URL instead of by resource id, for
    // example "Patient?identifier=urn:oid:1.2.3|123".
    // NOTE: HAPI fails the write when such a URL matches no resource or more than one.
    settings.setAllowInlineMatchUrlReferences(true);
    settings.setAllowExternalReferences(true);
    // A reference to a missing resource is an error, not a reason to create an empty one.
    settings.setAutoCreatePlaceholderReferenceTargets(false);
    // Conformance resources stored in the database (such as the THO v3-ObservationValue code system
    // in MonitorMed's FHIR package, which contains AIAST) take precedence over HAPI's built-in R4 4.0.1
    // copies during validation. Without this, $validate reports AIAST as an unknown code.
    settings.setAllowDatabaseValidationOverride(true);
    return settings;
  }

  @Bean
  public PartitionSettings partitionSettings() {
    return new PartitionSettings();
  }

  /**
   * Creates subscription settings with rest-hook channels enabled.
   *
   * <p>HAPI 8.8 stores each resource change in the writing transaction, and a scheduled job
   * submits stored changes to subscription matching every {@code intervalMs} milliseconds. So this
   * interval bounds the delay before a rest-hook is sent. HAPI's own default is 5000 ms.
   */
  @Bean
  public SubscriptionSettings subscriptionSettings(
      @Value("${hapi.subscription.interval-ms}") long intervalMs) {
    SubscriptionSettings settings = new SubscriptionSettings();
    // HAPI names channel types with the DSTU2 enum in every FHIR version.
    settings.addSupportedSubscriptionType(SubscriptionChannelType.RESTHOOK);
    settings.setSubscriptionIntervalInMs(intervalMs);
    return settings;
  }

  /**
   * Returns an email sender that drops every message. Subscription delivery needs an {@link
   * IEmailSender} bean even when only rest-hook channels are enabled, and a null bean cannot be
   * injected.
   */
  @Bean
  public IEmailSender emailSender() {
    return details -> log.warn("Email subscription channel is not supported; message dropped");
  }

  @Bean
  public IBinaryStorageSvc binaryStorageSvc() {
    return new DatabaseBinaryContentStorageSvcImpl();
  }

  @Primary
  @Bean
  public LocalContainerEntityManagerFactoryBean entityManagerFactory(
      ConfigurableListableBeanFactory beanFactory,
      FhirContext fhirContext,
      JpaStorageSettings storageSettings,
      DataSource dataSource,
      JpaProperties jpaProperties) {
    LocalContainerEntityManagerFactoryBean factory =
        HapiEntityManagerFactoryUtil.newEntityManagerFactory(
            beanFactory, fhirContext, storageSettings);
    factory.setPersistenceUnitName("HAPI_PU");
    factory.setDataSource(dataSource);

    // spring.jpa.properties.* in application.properties win over these defaults.
    Map<String, Object> properties = new HashMap<>(jpaProperties.getProperties());
    properties.putIfAbsent("hibernate.dialect", HapiFhirH2Dialect.class.getName());
    properties.putIfAbsent("hibernate.hbm2ddl.auto", "update");
    // Without Lucene or Elasticsearch, Hibernate Search must stay off.
    properties.putIfAbsent("hibernate.search.enabled", "false");
    factory.setJpaPropertyMap(properties);
    return factory;
  }

  @Primary
  @Bean
  public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
    return new JpaTransactionManager(entityManagerFactory);
  }
}
