package org.monitormed.peers.hapi;

import ca.uhn.fhir.jpa.packages.IPackageInstallerSvc;
import ca.uhn.fhir.jpa.packages.PackageInstallOutcomeJson;
import ca.uhn.fhir.jpa.packages.PackageInstallationSpec;
import jakarta.annotation.PostConstruct;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.hl7.fhir.utilities.npm.NpmPackage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.stereotype.Component;

/**
 * Installs MonitorMed's FHIR NPM package (the SUSHI build of {@code profiles/}) at startup, so that
 * its StructureDefinitions, CodeSystems and ValueSets are stored and {@code $validate?profile=} can
 * use them.
 *
 * <p>The package is read from the local .tgz file named by {@code HAPI_IG_PACKAGE}; nothing is
 * fetched from a package registry, and dependencies such as hl7.fhir.r4.core are not installed
 * because HAPI already has the R4 core definitions. The install runs while the Spring context
 * starts, and Tomcat accepts requests (such as {@code /fhir/metadata}) only after that.
 */
@Component
public class IgPackageLoader {

  private static final Logger log = LoggerFactory.getLogger(IgPackageLoader.class);

  /** Environment variable with the path of a local FHIR NPM package (.tgz). */
  static final String PACKAGE_ENV = "HAPI_IG_PACKAGE";

  private final IPackageInstallerSvc packageInstaller;

  public IgPackageLoader(IPackageInstallerSvc packageInstaller) {
    this.packageInstaller = packageInstaller;
  }

  /**
   * Installs the package named by {@code HAPI_IG_PACKAGE}, if set.
   *
   * @throws IllegalStateException when the file cannot be read or is not a FHIR NPM package, so
   *     that a server asked to load profiles never starts without them
   */
  @PostConstruct
  void loadPackage() {
    String path = System.getenv(PACKAGE_ENV);
    if (path == null || path.isBlank()) {
      return;
    }

    byte[] contents;
    NpmPackage npmPackage;
    try {
      contents = Files.readAllBytes(Path.of(path));
      npmPackage = NpmPackage.fromPackage(new ByteArrayInputStream(contents));
    } catch (IOException | RuntimeException e) {
      throw new IllegalStateException(
          PACKAGE_ENV + "=" + path + " is not a readable FHIR NPM package (.tgz with"
              + " package/package.json); build it with 'npm run build -w profiles' or unset "
              + PACKAGE_ENV, e);
    }

    // STORE_AND_INSTALL keeps the package in HAPI's package cache and also stores its conformance
    // resources as ordinary resources, which the JPA validation support reads for $validate.
    PackageInstallationSpec spec =
        new PackageInstallationSpec()
            .setName(npmPackage.name())
            .setVersion(npmPackage.version())
            .setPackageContents(contents)
            .setInstallMode(PackageInstallationSpec.InstallModeEnum.STORE_AND_INSTALL)
            .setFetchDependencies(false);
    // A restart with a file database finds the same version installed; reload so edits land.
    spec.setReloadExisting(true);

    PackageInstallOutcomeJson outcome = packageInstaller.install(spec);
    log.info(
        "Installed FHIR package {}#{} from {}: resources {}",
        npmPackage.name(),
        npmPackage.version(),
        path,
        outcome.getResourcesInstalled());
  }
}
