/// This source tree's release, in one place: `credit-meter --version` prints it.
public enum CreditMeterVersion {
    public static let string = "0.3.0"
}
