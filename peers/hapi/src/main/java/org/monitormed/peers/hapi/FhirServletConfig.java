package org.monitormed.peers.hapi;

import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.provider.JpaSystemProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.rest.api.EncodingEnum;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.springframework.beans.factory.config.AutowireCapableBeanFactory;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Exposes the JPA resource providers as a FHIR REST servlet at {@code /fhir/*}. */
@Configuration
public class FhirServletConfig {

  @Bean
  public RestfulServer restfulServer(
      IFhirSystemDao<?, ?> systemDao,
      ResourceProviderFactory resourceProviderFactory,
      JpaSystemProvider<?, ?> systemProvider,
      DatabaseBackedPagingProvider pagingProvider,
      JpaStorageSettings storageSettings,
      ISearchParamRegistry searchParamRegistry,
      IValidationSupport validationSupport) {
    RestfulServer server = new RestfulServer(systemDao.getContext());
    server.registerProviders(resourceProviderFactory.createProviders());
    // The system provider handles transactions and batches posted to the base URL.
    server.registerProvider(systemProvider);
    server.setPagingProvider(pagingProvider);
    server.setDefaultResponseEncoding(EncodingEnum.JSON);
    server.setServerConformanceProvider(
        new JpaCapabilityStatementProvider(
            server, systemDao, storageSettings, searchParamRegistry, validationSupport));
    return server;
  }

  @Bean
  public ServletRegistrationBean<RestfulServer> fhirServlet(
      RestfulServer server, AutowireCapableBeanFactory beanFactory) {
    // RestfulServer has @Autowired fields (the interceptor service), which Spring fills only
    // for beans it wires itself.
    beanFactory.autowireBean(server);
    ServletRegistrationBean<RestfulServer> registration =
        new ServletRegistrationBean<>(server, "/fhir/*");
    registration.setName("fhir");
    // Initialize at startup so the first request does not pay for provider scanning.
    registration.setLoadOnStartup(1);
    return registration;
  }
}
