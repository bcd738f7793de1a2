package org.monitormed.peers.hapi;

import jakarta.annotation.PostConstruct;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

/** Place for loading MonitorMed's FHIR NPM package (profiles) into the server at startup. */
@Component
public class IgPackageLoader {

  private static final Logger log = LoggerFactory.getLogger(IgPackageLoader.class);

  /** Environment variable with the path of a local FHIR NPM package (.tgz). */
  static final String PACKAGE_ENV = "HAPI_IG_PACKAGE";

  @PostConstruct
  void loadPackage() {
    String path = System.getenv(PACKAGE_ENV);
    if (path == null || path.isBlank()) {
      return;
    }
    // TODO: package loading is not wired yet. Install the package here with HAPI's
    // IPackageInstallerSvc, passing the .tgz contents in a PackageInstallationSpec.
    log.warn("{}={} is set, but package loading is not implemented; no package was installed",
        PACKAGE_ENV, path);
  }
}
